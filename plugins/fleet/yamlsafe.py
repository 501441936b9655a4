"""The one YAML reader for everything the project reads from a fleet repository (configs, templates).

Every file comes from outside, so the reader is bounded before it is clever: a size limit read
before parsing, a nesting limit checked while composing (PyYAML's composer recurses per level), an
alias expansion budget (an alias is cheap to write and exponential to walk: the "billion laughs"),
duplicate keys refused (YAML keeps the last one silently), and only UTF-8 text. Each refusal is a
``YamlInputError`` with the file and line, so callers report it like any other config problem.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

# The limits (README: "Bounded YAML"). A fleet.yaml of 1,000 accounts is about 150 KB and a
# CloudFormation template at most 1 MB (AWS's own limit for a template in S3).
MAX_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 10_000  # nodes reachable through aliases, counted as often as they are expanded


class YamlInputError(ValueError):
    """A YAML file refused before or while parsing: ``file``, 1-based ``line`` (or None), ``reason``."""

    def __init__(self, file: str, line: int | None, reason: str):
        self.file, self.line, self.reason = file, line, reason
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


@dataclass(frozen=True)
class Document:
    """A parsed file: its data and its node tree (for line numbers of key paths)."""

    data: Any
    node: yaml.Node | None


def read_text(path: str | Path, name: str | None = None, *, max_bytes: int = MAX_BYTES) -> str:
    """The file's text, refused when it is too large, binary or not UTF-8; nothing past the limit is read."""
    path = Path(path)
    name = name or str(path)
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError as exc:
        raise YamlInputError(name, None, f"cannot be read ({exc.strerror or exc})") from None
    if len(raw) > max_bytes:
        raise YamlInputError(name, None, f"a file of at most {max_bytes:,} bytes, this one is larger")
    return decode(raw, name)


def decode(raw: bytes, name: str) -> str:
    """UTF-8 text without NUL bytes, or an error naming the line of the first bad byte."""
    if b"\0" in raw:
        at = raw.index(b"\0")
        raise YamlInputError(name, raw.count(b"\n", 0, at) + 1, "a text file, found binary data (a NUL byte)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlInputError(name, line, f"UTF-8 text, found byte 0x{raw[exc.start]:02x} at offset {exc.start} "
                                         "(is the file Latin-1 or binary?)") from None


def load_file(path: str | Path, name: str | None = None) -> Document:
    path = Path(path)
    name = name or str(path)
    return load_text(read_text(path, name), name)


def load_text(text: str, name: str = "<yaml>") -> Document:
    """Compose within the limits, then construct plain data (safe tags only)."""
    if len(text.encode("utf-8", errors="surrogatepass")) > MAX_BYTES:
        raise YamlInputError(name, None, f"a file of at most {MAX_BYTES:,} bytes, this one is larger")
    loader = _BoundedLoader(text, name)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except YamlInputError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlInputError(name, mark.line + 1 if mark else None, f"valid YAML ({reason})") from None
    except RecursionError:  # a limit below ours (a small stack): still a clear refusal
        raise YamlInputError(name, None, f"nesting at most {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()
    return Document(data, node)


def check_text(text: str, name: str = "<yaml>") -> yaml.Node | None:
    """Compose only (any tag accepted, nothing constructed): the limits for YAML another parser reads
    afterwards, such as CloudFormation templates with ``!Ref`` short forms."""
    loader = _BoundedLoader(text, name)
    try:
        return loader.get_single_node()
    except YamlInputError:
        raise
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlInputError(name, mark.line + 1 if mark else None, f"valid YAML ({reason})") from None
    except RecursionError:
        raise YamlInputError(name, None, f"nesting at most {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


class _BoundedLoader(yaml.SafeLoader):
    def __init__(self, text: str, name: str):
        super().__init__(text)
        self.name = name
        self._depth = 0
        self._alias_nodes = 0
        self._open: list[str | None] = []  # anchors of the nodes being composed
        self._sizes: dict[int, int] = {}

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            if event.anchor in self._open:
                raise YamlInputError(self.name, event.start_mark.line + 1,
                                     f"no alias inside its own anchor (*{event.anchor} would never end)")
            node = super().compose_node(parent, index)
            self._alias_nodes += self._size(node)
            if self._alias_nodes > MAX_ALIAS_NODES:
                raise YamlInputError(self.name, event.start_mark.line + 1,
                                     f"aliases expanding to at most {MAX_ALIAS_NODES:,} nodes; the alias "
                                     f"*{event.anchor} goes past that")
            return node
        self._depth += 1
        if self._depth > MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise YamlInputError(self.name, mark.line + 1, f"nesting at most {MAX_DEPTH} levels deep")
        anchor = getattr(self.peek_event(), "anchor", None)
        self._open.append(anchor)
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.pop()

    def compose_mapping_node(self, anchor):
        node = super().compose_mapping_node(anchor)
        seen: dict[Any, int] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue
            line = key.start_mark.line + 1
            if key.value in seen:
                raise YamlInputError(self.name, line, f"unique keys in a mapping, {key.value!r} appears on line "
                                                      f"{seen[key.value]} and again on line {line}")
            seen[key.value] = line
        return node

    def _size(self, node: yaml.Node) -> int:
        """Nodes under ``node``, aliases counted as expanded (memoised: the walk itself stays linear)."""
        known = self._sizes.get(id(node))
        if known is not None:
            return known
        if isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._size(k) + self._size(v) for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._size(v) for v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return size
