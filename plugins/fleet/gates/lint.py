"""Gate `lint`: cfn-lint over every template, yamllint over the other YAML (the fleet config).

Both run through their Python APIs in this process: cfn-lint's rules are loaded once and applied
to each decoded template, which is what makes 200 templates take seconds rather than minutes of
process start-up.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable

from . import locate
from .findings import Finding
from .workspace import Workspace

CFNLINT_FILES = (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml")
YAMLLINT_FILES = (".yamllint", ".yamllint.yaml", ".yamllint.yml")
_DROP_KEYS = {"templates", "output_file", "format", "ignore_templates"}
# cfn-lint imports Python from append_rules: the repo under review must never run code on the
# machine that reviews it, so the key is refused whatever it names.
_CODE_KEYS = ("append_rules",)
# data files cfn-lint reads: allowed only inside the folder that holds the settings file, so a
# repo cannot make the gate read (and echo) a file from the worker's disk
_PATH_KEYS = ("custom_rules", "override_spec", "registry_schemas", "parameter_files",
              "deployment_files")


class LintConfigError(ValueError):
    """A settings file the linters cannot use (a usage error: exit 2)."""


def run(ws: Workspace, cache_dir: Path | None = None) -> list[Finding]:
    """cache_dir: where per-template results are kept (None: no cache)."""
    return start(ws, cache_dir)()


def start(ws: Workspace, cache_dir: Path | None = None,
          workers: int | None = None) -> Callable[[], list[Finding]]:
    """Start linting and return the function that waits for its findings.

    cfn-lint's work goes to a process pool that is forked and fed before this returns, so the
    caller can run the other gates on its own core meanwhile (and may start threads: the pool
    forks no more).
    """
    findings: list[Finding] = []
    cfn = _cfn_lint(ws, findings, cache_dir, workers)

    def finish() -> list[Finding]:
        return findings + cfn() + _yamllint(ws)

    return finish


def cfnlint_args(root: Path, refused: list[Finding] | None = None) -> dict:
    """cfn-lint's settings from the repo's .cfnlintrc, minus what would run or read outside it.

    Each refused key becomes an error finding in `refused` (when given).
    """
    from cfnlint.config import ConfigFileArgs

    path = locate.settings_file(root, CFNLINT_FILES)
    if path is None:
        return {"regions": ["us-east-1"]}
    try:
        args = dict(ConfigFileArgs(config_file=path).file_args)
    except Exception as exc:  # jsonschema / yaml errors: name the file, not a traceback
        raise LintConfigError(f"{path}: not a valid cfn-lint settings file: {exc}") from None
    where = _display(root, path)
    for key in _CODE_KEYS:
        if key in args:
            args.pop(key)
            if refused is not None:
                refused.append(Finding(
                    "lint", "lint:settings-refused", "error", where, None, None,
                    f"{key}: refused: it makes cfn-lint import Python from the repository under "
                    "review; custom rules cannot run in the gates (this key was ignored)"))
    base = path.parent.resolve()
    for key in _PATH_KEYS:
        values = args.get(key)
        items = values if isinstance(values, list) else [values] if values else []
        outside = [v for v in items if isinstance(v, str) and not _inside(base, v)]
        if outside:
            args.pop(key)
            if refused is not None:
                refused.append(Finding(
                    "lint", "lint:settings-refused", "error", where, None, None,
                    f"{key}: refused: {len(outside)} path(s) leave the folder of {path.name} "
                    "(absolute, `..` or a symlink out); this key was ignored"))
    return {k: v for k, v in args.items() if k not in _DROP_KEYS}


def _inside(base: Path, value: str) -> bool:
    target = (base / value).resolve()  # resolve() follows symlinks: a link out is outside
    return target == base or target.is_relative_to(base)


def _display(root: Path, path: Path) -> str:
    return os.path.relpath(path, root.resolve())


def _cfn_lint(ws: Workspace, refused: list[Finding], cache_dir: Path | None = None,
              workers: int | None = None) -> Callable[[], list[Finding]]:
    findings = [
        Finding("lint", "lint:E0000", "error", t.rel, t.parse_error[0], None, t.parse_error[1])
        for t in ws.templates if t.parse_error
    ]
    args = cfnlint_args(ws.root, refused)
    good = [t for t in ws.templates if t.data is not None]
    if not good:
        return lambda: findings

    cache = TemplateCache(cache_dir, "lint", _settings_digest(args))
    todo = []
    results: dict[int, list[Finding]] = {}  # index in `good` -> findings, in the files' order
    for i, template in enumerate(good):
        hit = cache.get(template)
        if hit is None:
            todo.append(i)
        else:
            results[i] = hit
    # largest first, so no worker is left with a big template while the others have finished
    todo.sort(key=lambda i: -good[i].file.size)
    pending = _lint_all([good[i] for i in todo], args, workers)

    def finish() -> list[Finding]:
        for i, result in zip(todo, pending()):
            results[i] = result
            if not any(f.rule == "lint:cfn-lint-crashed" for f in result):
                cache.put(good[i], result)  # complete results only: a crash runs again next time
        return findings + [f for i in sorted(results) for f in results[i]]

    return finish


def _settings_digest(args: dict) -> str:
    from importlib import metadata

    h = hashlib.sha256(json.dumps(args, sort_keys=True, default=str).encode())
    h.update(metadata.version("cfn-lint").encode())
    h.update(Path(__file__).read_bytes())
    return h.hexdigest()


class TemplateCache:
    """Findings per template, keyed by the template's path and bytes, the tool's version and
    settings, and this module's code: one edited template is the only one linted again."""

    def __init__(self, directory: Path | None, gate: str, settings: str):
        self.directory = directory / f"{gate}-templates" if directory else None
        self.settings = settings

    def _path(self, template) -> Path | None:
        if self.directory is None:
            return None
        try:
            body = template.file.read_bytes()
        except OSError:
            return None
        h = hashlib.sha256(self.settings.encode())
        h.update(template.rel.encode() + b"\0" + body)
        return self.directory / f"{h.hexdigest()[:32]}.json"

    def get(self, template) -> list[Finding] | None:
        from fleet.cachedir import load_sealed

        path = self._path(template)
        data = load_sealed(path.parent, path.name, path.stem) if path else None
        try:
            return [Finding(**item) for item in data] if isinstance(data, list) else None
        except TypeError:
            return None

    def put(self, template, findings: list[Finding]) -> None:
        path = self._path(template)
        if path is None:
            return
        from fleet.cachedir import CacheError, private_dir, store_sealed

        try:
            private_dir(path.parent.parent)
            store_sealed(path.parent, path.name, path.stem, [f.to_dict() for f in findings])
        except (OSError, CacheError):
            pass  # a read-only (or untrusted) cache only costs speed


# what forked lint workers inherit: the loaded rules and the parsed templates (parsing and
# loading rules once, in the parent, is most of cfn-lint's start-up)
_SHARED: dict = {}


def _lint_all(templates: list, args: dict,
              workers: int | None) -> Callable[[], list[list[Finding]]]:
    """Lint `templates`; the returned function waits for their findings (in their order)."""
    if not templates:
        return lambda: []
    from cfnlint.config import ConfigMixIn
    from cfnlint.runner import Runner

    config = ConfigMixIn(**args)
    # ConfigMixIn also reads ~/.cfnlintrc and ./.cfnlintrc (the cwd may be the repo under review)
    # and merges their lists, append_rules included: only the settings checked above count
    config.file_args = {}
    rules = Runner(config).rules  # loaded once, applied to every template
    _SHARED.update(config=config, rules=rules, templates=templates)
    workers = workers or os.cpu_count() or 1
    import multiprocessing

    if workers == 1 or len(templates) < 4 or "fork" not in \
            multiprocessing.get_all_start_methods():
        try:
            done = [_lint_one(i) for i in range(len(templates))]
        finally:
            _SHARED.clear()
        return lambda: done
    from concurrent.futures import ProcessPoolExecutor

    # fork: the workers start with the rules and the parsed templates already in memory. With
    # fork, the executor forks every worker at the first submit, before its own threads start
    pool = ProcessPoolExecutor(max_workers=min(workers, len(templates)),
                               mp_context=multiprocessing.get_context("fork"))
    try:
        futures = [pool.submit(_lint_one, i) for i in range(len(templates))]
    except BaseException:
        pool.shutdown(cancel_futures=True)
        _SHARED.clear()
        raise
    _SHARED.clear()  # the workers have their copy

    def wait() -> list[list[Finding]]:
        try:
            return [future.result() for future in futures]
        finally:
            pool.shutdown(cancel_futures=True)

    return wait


def _lint_one(index: int) -> list[Finding]:
    from cfnlint.runner import run_template_by_data

    template = _SHARED["templates"][index]
    try:
        matches = list(run_template_by_data(template.data, _SHARED["config"], _SHARED["rules"]))
    except Exception as exc:  # a cfn-lint bug on one template must not hide the others
        return [Finding("lint", "lint:cfn-lint-crashed", "error", template.rel, None, None,
                        f"cfn-lint failed on this template: {type(exc).__name__}")]
    return [Finding("lint", f"lint:{m.rule.id}", "error" if m.rule.severity == "error"
                    else "warning", template.rel, m.linenumber or None, None, m.message)
            for m in matches]


def _yamllint(ws: Workspace) -> list[Finding]:
    files = ws.yaml_configs()
    if not files:
        return []
    from yamllint import linter
    from yamllint.config import YamlLintConfig, YamlLintConfigError

    path = locate.settings_file(ws.root, YAMLLINT_FILES)
    try:
        conf = YamlLintConfig(file=str(path)) if path else YamlLintConfig("extends: default")
    except YamlLintConfigError as exc:
        raise LintConfigError(f"{path}: not a valid yamllint settings file: {exc}") from None

    findings = []
    for f in files:
        try:
            text = f.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            findings.append(Finding("lint", "lint:yamllint/unreadable", "error", f.rel, None, None,
                                    f"cannot read as UTF-8 YAML: {type(exc).__name__}"))
            continue
        if conf.is_file_ignored(f.rel):
            continue
        for problem in linter.run(text, conf, f.rel):
            severity = "error" if problem.level == "error" else "warning"
            findings.append(Finding("lint", f"lint:yamllint/{problem.rule or 'syntax'}", severity,
                                    f.rel, problem.line, None, problem.desc))
    return findings
