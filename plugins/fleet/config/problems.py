"""What is wrong with a config, and where: file, key path, line and what was expected."""

from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    line: int | None
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '<root>'}: {self.expected}"


class ConfigError(ValueError):
    """A fleet config that cannot be used. ``problems`` holds every problem found, not just one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def line_index(node: yaml.Node | None) -> dict[str, int]:
    """Key path -> 1-based line, for every mapping key and sequence item in the document."""
    index: dict[str, int] = {}

    def walk(n: yaml.Node, key: str) -> None:
        index.setdefault(key, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                child = f"{key}.{k.value}" if key else str(k.value)
                index[child] = k.start_mark.line + 1
                walk(v, child)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                child = f"{key}[{i}]"
                index[child] = item.start_mark.line + 1
                walk(item, child)

    if node is not None:
        walk(node, "")
    return index


class Problems:
    """Collects every problem of one file instead of stopping at the first, so one run shows them all."""

    def __init__(self, file: str, lines: dict[str, int]):
        self.file, self.lines = file, lines
        self.found: list[Problem] = []

    def add(self, key: str, expected: str) -> None:
        # A missing key has no line of its own: report the line of the nearest key above it.
        line, probe = self.lines.get(key), key
        while line is None and probe:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe)
        problem = Problem(self.file, key, line, expected)
        if problem not in self.found:
            self.found.append(problem)

    def raise_any(self) -> None:
        if self.found:
            raise ConfigError(sorted(self.found, key=lambda p: p.line or 0))
