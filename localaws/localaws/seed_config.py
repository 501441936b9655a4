"""The part of a fleet config that seeding reads: OU tree, accounts, SCP documents.

The file's full schema belongs to the product that owns it; local AWS reads only these keys and
checks only what it relies on, naming the file, the key path, its line and what was expected.
Every other key is ignored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from localaws.problems import Problem, line_index


class SeedError(RuntimeError):
    """The organization could not be made to match the fleet config (or the config is unusable)."""


@dataclass(frozen=True)
class SeedOu:
    name: str
    children: tuple["SeedOu", ...] = ()


@dataclass(frozen=True)
class SeedAccount:
    name: str
    email: str
    ou: str
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SeedConfig:
    path: Path
    ous: tuple[SeedOu, ...]
    accounts: tuple[SeedAccount, ...]
    scps: tuple[str, ...]  # paths relative to the config's folder

    @property
    def root(self) -> Path:
        """The folder that holds the config; SCP paths are relative to it."""
        return self.path.parent


class _Reader:
    def __init__(self, file: str, lines: dict[str, int]):
        self.file, self.lines = file, lines
        self.problems: list[Problem] = []

    def bad(self, key: str, expected: str) -> None:
        probe = key
        line = self.lines.get(probe)
        while line is None and probe:  # the nearest enclosing key that has a line
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe)
        self.problems.append(Problem(self.file, key, line, f"expected {expected}"))

    def text(self, data: dict, key: str, name: str) -> str:
        value = data.get(name)
        if not isinstance(value, str) or not value.strip():
            self.bad(f"{key}.{name}", "a non-empty string")
            return ""
        return value

    def items(self, data: dict, key: str) -> list:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.bad(key, "a list")
            return []
        return value

    def ous(self, items: list, key: str) -> tuple[SeedOu, ...]:
        out = []
        for i, item in enumerate(items):
            path = f"{key}[{i}]"
            if not isinstance(item, dict):
                self.bad(path, "a mapping with a name (and children)")
                continue
            children = item.get("children") or []
            if not isinstance(children, list):
                self.bad(f"{path}.children", "a list of OUs")
                children = []
            out.append(SeedOu(self.text(item, path, "name"), self.ous(children, f"{path}.children")))
        return tuple(out)

    def accounts(self, items: list) -> tuple[SeedAccount, ...]:
        out = []
        for i, item in enumerate(items):
            path = f"accounts[{i}]"
            if not isinstance(item, dict):
                self.bad(path, "a mapping with name, email, ou (and tags)")
                continue
            tags = item.get("tags") or {}
            if not isinstance(tags, dict):
                self.bad(f"{path}.tags", "a mapping of tag key to value")
                tags = {}
            out.append(SeedAccount(self.text(item, path, "name"), self.text(item, path, "email"),
                                   self.text(item, path, "ou"), {str(k): str(v) for k, v in tags.items()}))
        return tuple(out)

    def scps(self, data: dict) -> tuple[str, ...]:
        guardrails = data.get("guardrails") or {}
        if not isinstance(guardrails, dict):
            self.bad("guardrails", "a mapping (with scps: a list of policy files)")
            return ()
        scps = guardrails.get("scps") or []
        if not isinstance(scps, list):
            self.bad("guardrails.scps", "a list of paths to SCP documents")
            return ()
        out = []
        for i, item in enumerate(scps):
            if not isinstance(item, str) or not item:
                self.bad(f"guardrails.scps[{i}]", "a path to an SCP document, relative to the config")
            else:
                out.append(item)
        return tuple(out)


def read_seed_config(path: str | Path) -> SeedConfig:
    """The OU tree, accounts and SCP paths of the fleet config at ``path``; SeedError naming the
    file, key path and line of every problem found."""
    path = Path(path)
    display = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SeedError(str(Problem(display, "", None, f"expected a readable fleet config ({exc.strerror})"))) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise SeedError(str(Problem(display, "", mark.line + 1 if mark else None,
                                    f"expected valid YAML ({reason})"))) from None
    reader = _Reader(display, line_index(node))
    if not isinstance(data, dict):
        reader.bad("", "a mapping with ous, accounts (and guardrails.scps)")
        data = {}
    ous = reader.ous(reader.items(data, "ous"), "ous")
    accounts = reader.accounts(reader.items(data, "accounts"))
    scps = reader.scps(data)
    known = {ou.name for ou in _walk(ous)}
    for i, account in enumerate(accounts):
        if account.ou and account.ou not in known:
            reader.bad(f"accounts[{i}].ou", f"an OU declared under ous (one of {', '.join(sorted(known))})")
    if reader.problems:
        raise SeedError("\n".join(str(p) for p in reader.problems))
    return SeedConfig(path.resolve(), ous, accounts, scps)


def _walk(ous: tuple[SeedOu, ...]):
    for ou in ous:
        yield ou
        yield from _walk(ou.children)
