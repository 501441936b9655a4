"""The one bounded YAML reader for every config and template the project reads.

Whatever a fleet repo holds is input from whoever can commit to it, so a document is refused (a
``YamlError`` naming the file, the line and what was expected) before it can cost more than a
moment of CPU or memory:

- bigger than ``MAX_BYTES`` (1 MiB: CloudFormation's own limit for a template in S3 is 1 MB, and
  a fleet config is a few kilobytes);
- not UTF-8 text, or holding a NUL byte (a binary file);
- nested deeper than ``MAX_DEPTH`` (64) collections;
- aliases whose expansion would exceed ``MAX_NODES`` (100,000 nodes, counting each alias as the
  whole tree it stands for: a "billion laughs" document is refused, a few shared anchors pass);
- a mapping with the same key twice (YAML would silently keep the last one).

The depth is checked on the parser's event stream, which is iterative, before anything recursive
(the composer, the constructor) sees the document. Tags are not constructed here, so a
CloudFormation template with ``!Ref`` short forms is checked by the same code as fleet.yaml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_NODES = 100_000

_DEPTH = f"collections nested at most {MAX_DEPTH} deep (YAML documents are depth-limited)"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when present: the same events, faster


class YamlError(ValueError):
    def __init__(self, file: str, line: int | None, expected: str):
        self.file, self.line, self.expected = file, line, expected
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {expected}")


def read_text(path: str | Path) -> str:
    """The file's text if it is small, UTF-8 and not binary; else a YamlError naming it. An OSError
    (missing, unreadable) is the caller's to word: it knows what the file was for."""
    path = Path(path)
    with path.open("rb") as f:
        raw = f.read(MAX_BYTES + 1)  # never more: a huge file is refused without being read
    return decode(raw, str(path))


def decode(raw: bytes, name: str) -> str:
    if len(raw) > MAX_BYTES:
        raise YamlError(name, None, f"a file of at most {MAX_BYTES} bytes (YAML documents are size-limited)")
    if b"\0" in raw:
        raise YamlError(name, raw[:raw.index(b"\0")].count(b"\n") + 1, "a text file, found a NUL byte (binary?)")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise YamlError(name, line, f"UTF-8 text, byte 0x{raw[exc.start]:02x} is not (save the file as UTF-8)") \
            from None


def compose(text: str, name: str) -> yaml.Node | None:
    """The document's node graph, once it passed every bound; tags are left unconstructed."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise YamlError(name, None, f"a document of at most {MAX_BYTES} bytes (YAML documents are size-limited)")
    try:
        _check_events(text, name)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        if "nesting depth" in reason:  # libyaml's own limit, met while it reads ahead of our count
            raise YamlError(name, mark.line + 1 if mark else None, _DEPTH) from None
        raise YamlError(name, mark.line + 1 if mark else None, f"valid YAML ({reason})") from None
    if node is not None:
        _check_graph(node, name)
    return node


def load(text: str, name: str) -> tuple[Any, yaml.Node | None]:
    """(data, node) of a plain YAML document (fleet.yaml and the like: no custom tags)."""
    node = compose(text, name)
    if node is None:
        return None, None
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        reason = getattr(exc, "problem", None) or str(exc)
        raise YamlError(name, mark.line + 1 if mark else None, f"valid YAML ({reason})") from None
    finally:
        loader.dispose()


def load_file(path: str | Path) -> tuple[Any, yaml.Node | None]:
    return load(read_text(path), str(path))


def _check_events(text: str, name: str) -> None:
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                raise YamlError(name, event.start_mark.line + 1, _DEPTH)
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _check_graph(root: yaml.Node, name: str) -> None:
    """Duplicate keys, and the node count with every alias expanded (memoised: shared nodes are
    counted once per use without walking them again, so a bomb is measured in linear time)."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        sizes[id(node)] = 1  # a recursive alias (a node inside itself) counts once, never loops
        total = 1
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key, value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    marker = (key.tag, key.value)
                    if marker in seen:
                        raise YamlError(name, key.start_mark.line + 1,
                                        f"each key once in a mapping, {key.value!r} appears again "
                                        f"(first on line {seen[marker]})")
                    seen[marker] = key.start_mark.line + 1
                total += size(key) + size(value)
        elif isinstance(node, yaml.SequenceNode):
            total += sum(size(item) for item in node.value)
        if total > MAX_NODES:
            raise YamlError(name, node.start_mark.line + 1,
                            f"at most {MAX_NODES} nodes with aliases expanded (an alias bomb?)")
        sizes[id(node)] = total
        return total

    size(root)
