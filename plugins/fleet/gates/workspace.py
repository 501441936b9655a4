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


@dataclass(eq=False)
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
        for resources in (self.resources, self.checked_resources):
            for key in resources:
                if key == name:
                    return self.line_of(key, self.line_of(resources[name]))
        return None

    def output_line(self, name: str) -> int | None:
        outputs = self.data.get("Outputs") if isinstance(self.data, dict) else None
        for key in outputs if isinstance(outputs, dict) else ():
            if key == name:
                return self.line_of(key, self.line_of(outputs[name]))
        return None

    @property
    def checked_resources(self) -> dict[str, Any]:
        data = self.checked_data
        resources = data.get("Resources") if isinstance(data, dict) else None
        return resources if isinstance(resources, dict) else {}

    @property
    def checked_data(self) -> dict | None:
        """What the policy and IAM gates check: Fn::ForEach expanded, unknowable resources out."""
        return self._checked[0]

    @property
    def skipped(self) -> list[tuple[int | None, str]]:
        """(line, reason) for each part of the template the policy and IAM gates cannot check."""
        return self._checked[1]

    @property
    def rewritten(self) -> bool:
        """True when checked_data differs from the file (engines that read files need a copy)."""
        return self._checked[0] is not self.data

    @cached_property
    def _checked(self) -> tuple[dict | None, list[tuple[int | None, str]]]:
        if not self.data:
            return None, []
        return expand(self)


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

    from fleet import yamlsafe

    try:  # cfn-lint's decoder is unbounded: our limits (aliases, depth, duplicate keys) first
        yamlsafe.check_text(text, "template")
    except yamlsafe.YamlInputError as exc:
        return None, (exc.line, f"cannot parse template: {exc.reason}")
    try:
        data, matches = decode_str(text)
    except Exception as exc:  # the decoder raises on some inputs instead of returning matches
        return None, (None, f"cannot parse template: {type(exc).__name__}: {exc}")
    if matches:
        first = matches[0]
        return None, (getattr(first, "linenumber", None), f"cannot parse template: {first.message}")
    return data, None


LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SAM = "AWS::Serverless-2016-10-31"


def transforms_of(data: dict) -> list:
    declared = data.get("Transform", [])
    return declared if isinstance(declared, list) else [declared]


def expand(template: Template) -> tuple[dict | None, list[tuple[int | None, str]]]:
    """The template as the policy and IAM gates see it, and what they cannot see.

    Fn::ForEach is expanded by cfn-lint's own AWS::LanguageExtensions transform (so the generated
    resources are checked with the names CloudFormation gives them). Macros other than the two
    AWS transforms run at deploy time: such a template is not checked at all. Resources whose
    Type is not a string (Rain modules, preprocessors), CloudFormation modules (::MODULE) and SAM
    resources (cfn-lint validates SAM without transforming it, so the resources SAM generates are
    not known here) are left out, each with its reason.
    """
    data = template.data
    skipped: list[tuple[int | None, str]] = []
    names = transforms_of(data)
    macros = [t for t in names if t not in (LANGUAGE_EXTENSIONS, SAM)]
    if macros:
        label = ", ".join(t if isinstance(t, str) else f"a {type(t).__name__}" for t in macros)
        return None, [(template.line_of(data.get("Transform")),
                       f"Transform {label}: a macro that rewrites the template at deploy time; "
                       "policy and IAM checks cannot see what it produces")]
    resources = data.get("Resources")
    has_for_each = isinstance(resources, dict) and any(
        isinstance(k, str) and k.startswith("Fn::ForEach::") for k in resources)
    checked = data
    if has_for_each and LANGUAGE_EXTENSIONS in names:
        checked, problem = _language_extensions(data)
        if problem:
            skipped.append((None, f"Fn::ForEach not expanded: {problem}"))
            checked = data
    elif has_for_each:
        skipped.append((None, "Fn::ForEach without Transform AWS::LanguageExtensions: "
                              "CloudFormation will refuse it; not expanded"))
    resources = checked.get("Resources") if isinstance(checked, dict) else None
    if not isinstance(resources, dict):
        return checked, skipped
    kept = {}
    for name, resource in resources.items():
        rtype = resource.get("Type") if isinstance(resource, dict) else None
        line = template.line_of(name, template.line_of(resource))
        if isinstance(name, str) and name.startswith("Fn::ForEach::"):
            continue  # its reason is above
        if not isinstance(rtype, str):
            what = type(rtype).__name__ if rtype is not None else "missing"
            what = {"dict_node": "a mapping", "dict": "a mapping", "list_node": "a list",
                    "list": "a list"}.get(what, what)
            skipped.append((line, f"resource {name}: Type is {what}, not a string (a Rain "
                                  "module or a preprocessor): not checked"))
        elif rtype.endswith("::MODULE"):
            skipped.append((line, f"resource {name} ({rtype}): a CloudFormation module, "
                                  "expanded at deploy time: not checked"))
        elif rtype.startswith("AWS::Serverless::"):
            skipped.append((line, f"resource {name} ({rtype}): a SAM resource; cfn-lint "
                                  "validates SAM without transforming it, so the resources it "
                                  "generates are not checked"))
        else:
            kept[name] = resource
            continue
    if len(kept) != len(resources):
        checked = dict(checked)
        checked["Resources"] = kept
    return checked, skipped


def _language_extensions(data: dict) -> tuple[dict, str | None]:
    import copy

    from cfnlint.template import Template as CfnTemplate
    from cfnlint.template.transforms import Transform

    try:
        cfn = CfnTemplate(None, copy.deepcopy(data), ["us-east-1"])
        matches = Transform().transform(cfn)
    except Exception as exc:  # cfn-lint's transform on odd input: say so, check the rest
        return data, f"cfn-lint's transform failed ({type(exc).__name__})"
    if matches:
        return data, matches[0].message[:200]
    return cfn.template, None
