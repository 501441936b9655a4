"""What the gates look at: the files under the scanned root and which of them are templates.

Read once, shared by every gate, so a 200-template repo is walked and parsed one time per run.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

# CloudFormation refuses template bodies above 1 MB (via S3 URL); anything bigger is not a template
# we could deploy, and parsing it would only burn time.
MAX_TEMPLATE_BYTES = 1_048_576
TEMPLATE_SUFFIXES = {".yaml", ".yml", ".json", ".template"}
SKIP_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".pytest_cache", ".mypy_cache"}
_RESOURCES_KEY = re.compile(rb'^(Resources\s*:|\s*"Resources"\s*:)', re.M)


@dataclass
class SourceFile:
    path: Path
    rel: str
    size: int
    error: str | None = None  # why it could not be read; None when readable

    def read_bytes(self) -> bytes:
        return self.path.read_bytes()


@dataclass
class Template:
    file: SourceFile
    text: str | None = None
    data: dict | None = None
    # (line, message) when the file looks like a template but cannot be decoded
    parse_error: tuple[int | None, str] | None = None

    @property
    def rel(self) -> str:
        return self.file.rel

    @property
    def resources(self) -> dict[str, Any]:
        if not self.data:
            return {}
        resources = self.data.get("Resources")
        return resources if isinstance(resources, dict) else {}

    def line_of(self, node: Any, default: int | None = None) -> int | None:
        """1-based line of a node from cfn-lint's decoder (it keeps marks on dict/list/str nodes)."""
        mark = getattr(node, "start_mark", None)
        return mark.line + 1 if mark is not None else default

    def resource_line(self, name: str) -> int | None:
        resources = self.resources
        for key in resources:
            if key == name:
                return self.line_of(key, self.line_of(resources[name]))
        return None


@dataclass
class Workspace:
    root: Path
    exclude: tuple[Path, ...] = ()
    only: frozenset[str] | None = None  # restrict to these relative paths (pre-commit: staged files)
    files: list[SourceFile] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.root = self.root.resolve()
        self.exclude = tuple(p.resolve() for p in self.exclude)
        self.files = list(self._walk())

    def rel(self, path: Path) -> str:
        return os.path.relpath(path, self.root)

    def _walk(self):
        for dirpath, dirnames, filenames in os.walk(self.root):
            here = Path(dirpath)
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
            for name in sorted(filenames):
                path = here / name
                rel = self.rel(path)
                if self.only is not None and rel not in self.only:
                    continue
                try:
                    st = path.stat()
                except OSError as exc:  # dangling symlink, vanished file
                    yield SourceFile(path, rel, 0, f"cannot be read: {exc.strerror or exc}")
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue  # FIFOs, sockets, devices: reading them could block forever
                error = None if os.access(path, os.R_OK) else "cannot be read: permission denied"
                yield SourceFile(path, rel, st.st_size, error)

    def _excluded(self, f: SourceFile) -> bool:
        # rule examples and feature fixtures are not the fleet's templates (secrets still sees them)
        return any(f.path.is_relative_to(ex) for ex in self.exclude)

    @cached_property
    def templates(self) -> list[Template]:
        candidates = (self._as_template(f) for f in self.files if not self._excluded(f))
        return [t for t in candidates if t is not None]

    @cached_property
    def unreadable(self) -> list[SourceFile]:
        return [f for f in self.files if f.error]

    def yaml_configs(self) -> list[SourceFile]:
        """YAML files that are not templates: the fleet config and friends (yamllint's job)."""
        templates = {t.rel for t in self.templates}
        return [
            f for f in self.files
            if f.path.suffix in {".yaml", ".yml"} and f.rel not in templates and not f.error
            and f.size <= MAX_TEMPLATE_BYTES and not self._excluded(f)
        ]

    def _as_template(self, f: SourceFile) -> Template | None:
        if f.path.suffix.lower() not in TEMPLATE_SUFFIXES or f.error:
            return None
        try:
            raw = f.read_bytes() if f.size <= MAX_TEMPLATE_BYTES else f.path.open("rb").read(65536)
        except OSError as exc:
            f.error = f"cannot be read: {exc.strerror or exc}"
            return None
        if not _RESOURCES_KEY.search(raw):
            return None
        if f.size > MAX_TEMPLATE_BYTES:
            return Template(f, parse_error=(None, (
                f"template is {f.size:,} bytes; CloudFormation accepts at most "
                f"{MAX_TEMPLATE_BYTES:,}, so it was not parsed")))
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            return Template(f, parse_error=(None, f"not UTF-8 text (byte {exc.start}): not a template"))
        data, problem = decode_template(text)
        if problem is not None:
            return Template(f, text=text, parse_error=problem)
        if not isinstance(data, dict) or not isinstance(data.get("Resources"), dict):
            if isinstance(data, dict) and "Resources" in data:
                return Template(f, text=text, parse_error=(
                    None, "top-level Resources must be a map of logical id to resource"))
            return None
        return Template(f, text=text, data=data)


def decode_template(text: str) -> tuple[Any, tuple[int | None, str] | None]:
    # cfn-lint's decoder understands !Ref/!Sub/!GetAtt and keeps line marks on every node.
    from cfnlint.decode.decode import decode_str

    try:
        data, matches = decode_str(text)
    except Exception as exc:  # the decoder raises on some inputs instead of returning matches
        return None, (None, f"cannot parse template: {type(exc).__name__}: {exc}")
    if matches:
        first = matches[0]
        return None, (getattr(first, "linenumber", None), f"cannot parse template: {first.message}")
    return data, None
