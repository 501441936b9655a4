"""A problem found in a YAML file local AWS reads (a behaviour profile, a fleet config), and the
key path -> line index that lets every message point at the line."""

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


def line_index(node: yaml.Node | None) -> dict[str, int]:
    """Key path (``a.b[0].c``) -> 1-based line, for every mapping key and sequence item."""
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
