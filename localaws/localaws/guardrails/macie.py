"""Macie's account session (EnableMacie, GetMacieSession, UpdateMacieSession, DisableMacie).

moto 5.2.5 starts every account with Macie ENABLED, answers a second EnableMacie with 200, and
has no UpdateMacieSession. As the Macie API reference and botocore's macie2 model have it (all four
operations list ValidationException, AccessDeniedException, ConflictException, ...):
- Macie is off until EnableMacie; GetMacieSession, UpdateMacieSession and DisableMacie then answer
  ``AccessDeniedException`` (HTTP 403) "Macie is not enabled";
- EnableMacie on an account where Macie is already enabled (ENABLED or PAUSED) answers
  ``ConflictException`` (HTTP 409);
- UpdateMacieSession changes ``status`` (ENABLED | PAUSED) and ``findingPublishingFrequency``.

The session stays in moto's Macie backend of the account and Region (``macie_session``), so moto's
own operations and its reset agree with what we answer; the enabled mark sits beside it.
"""

from __future__ import annotations

import threading
from typing import Any

from .exceptions import ServiceError

_ENABLED = "localaws_macie_enabled"  # attribute on moto's MacieBackend; absent means never enabled
_FREQUENCIES = {"FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"}
_STATUSES = {"ENABLED", "PAUSED"}
NOT_ENABLED = "Macie is not enabled"
ALREADY_ENABLED = ("The request failed because it conflicts with the current state of the specified resource: "
                   "Macie is already enabled for this account.")
_lock = threading.Lock()


def _error(status: int, code: str, message: str) -> ServiceError:
    return ServiceError(status, code, message, {"message": message})


def validation(message: str) -> ServiceError:
    return _error(400, "ValidationException", message)


def _backend(account: str, region: str) -> Any:
    from moto.macie2.models import macie2_backends

    backend = macie2_backends[account][region]
    if _ENABLED not in backend.__dict__:
        # moto starts each account enabled; AWS starts it off.
        backend.macie_session = None
        backend.__dict__[_ENABLED] = False
    return backend


def _enabled_backend(account: str, region: str) -> Any:
    backend = _backend(account, region)
    if not backend.__dict__[_ENABLED]:
        raise _error(403, "AccessDeniedException", NOT_ENABLED)
    return backend


def _check(params: dict[str, Any]) -> None:
    if params.get("status") is not None and params["status"] not in _STATUSES:
        raise validation(f"status must be one of {sorted(_STATUSES)}.")
    frequency = params.get("findingPublishingFrequency")
    if frequency is not None and frequency not in _FREQUENCIES:
        raise validation(f"findingPublishingFrequency must be one of {sorted(_FREQUENCIES)}.")


def enable_macie(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    _check(params)
    with _lock:
        backend = _backend(account, region)
        if backend.__dict__[_ENABLED]:
            raise _error(409, "ConflictException", ALREADY_ENABLED)
        backend.enable_macie(params.get("findingPublishingFrequency") or "FIFTEEN_MINUTES",
                             params.get("status") or "ENABLED")
        backend.__dict__[_ENABLED] = True
    return {}


def get_macie_session(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        session = dict(_enabled_backend(account, region).macie_session)
    return {
        "createdAt": _iso(session["createdAt"]),
        "findingPublishingFrequency": session["findingPublishingFrequency"],
        "serviceRole": session["serviceRole"],
        "status": session["status"],
        "updatedAt": _iso(session["updatedAt"]),
    }


def update_macie_session(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    _check(params)
    from moto.core.utils import utcnow

    with _lock:
        session = _enabled_backend(account, region).macie_session
        if params.get("status"):
            session["status"] = params["status"]
        if params.get("findingPublishingFrequency"):
            session["findingPublishingFrequency"] = params["findingPublishingFrequency"]
        session["updatedAt"] = utcnow()
    return {}


def disable_macie(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        backend = _enabled_backend(account, region)
        backend.disable_macie()
        backend.__dict__[_ENABLED] = False
    return {}


def _iso(value: Any) -> str:
    # moto keeps naive UTC datetimes; the wire format is ISO 8601 in UTC.
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return text if text.endswith("Z") or "+" in text[10:] else text + "Z"
