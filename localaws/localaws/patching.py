"""Helpers to replace a moto method or classmethod exactly once (used by patches/ and drift/)."""

from __future__ import annotations

from typing import Any, Callable

_MARK = "__localaws_patch__"


def replace_classmethod(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Install ``make(original)`` as ``cls.name``; a second call finds the mark and does nothing.

    ``original`` is the plain function behind moto's classmethod (inherited ones included), so
    the replacement can call it as ``original(cls, ...)``.
    """
    current = cls.__dict__.get(name)
    if current is not None and getattr(getattr(current, "__func__", current), _MARK, False):
        return False
    inherited = getattr(cls, name)
    original = getattr(inherited, "__func__", inherited)
    replacement = make(original)
    setattr(replacement, _MARK, True)
    replacement.__name__ = name
    replacement.__qualname__ = f"{cls.__name__}.{name}"
    setattr(cls, name, classmethod(replacement))
    return True


def replace_method(obj: Any, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> bool:
    """Same as replace_classmethod for a plain method or function attribute."""
    current = getattr(obj, name)
    if getattr(current, _MARK, False):
        return False
    replacement = make(current)
    setattr(replacement, _MARK, True)
    setattr(obj, name, replacement)
    return True
