"""`fleet check`: the gates from the command line (the CLI module wires check_command in)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from fleet.display import escape

from . import locate
from .findings import GATES, GateReport
from .runner import GateConfigError, run_gates

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE = 0, 1, 2


def check_command(path: str | None, fmt: str = "text", history: bool = True, *,
                  gates: set[str] | None = None, only_files: set[str] | None = None,
                  out=None) -> int:
    """Run every Build gate over PATH (default: this repo's include/) and print the findings.

    Returns 0 when no finding is an error, 1 when one is, 2 for bad usage or bad settings.
    """
    out = out or sys.stdout
    if fmt not in ("text", "json"):
        print(f"fleet check: --format must be text or json, got {escape(fmt)!r}", file=sys.stderr)
        return EXIT_USAGE
    root = Path(path) if path else locate.default_check_path()
    if not check_config(root, only_files):
        return EXIT_USAGE
    try:
        report = run_gates(root, history=history, gates=gates, only_files=only_files)
    except GateConfigError as exc:
        print(f"fleet check: {escape(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    plan_path = _write_plan(root, report)
    if fmt == "json":
        out.write(report.to_json() + "\n")
    else:
        out.write(render_text(report, root, plan_path))
    return EXIT_OK if report.ok else EXIT_FINDINGS


CONFIG_NAME = "fleet.yaml"


def check_config(root: Path, only_files: set[str] | None = None) -> bool:
    """Load <root>/fleet.yaml with the pipeline's own loader; print every problem and return
    False when it would be refused (pre-commit: only when fleet.yaml is among the files)."""
    path = root / CONFIG_NAME
    if not path.is_file() or (only_files is not None and CONFIG_NAME not in only_files):
        return True
    from fleet.config import ConfigError, load_config

    try:
        load_config(path)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"fleet check: {escape(str(problem))}", file=sys.stderr)
        return False
    return True


def _write_plan(root: Path, report: GateReport) -> Path | None:
    if not report.purge_plan:
        return None
    from .secrets_gate import default_cache_dir

    path = default_cache_dir(root) / "purge-plan.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(report.purge_plan, indent=2))
    except OSError:
        return None
    return path


def render_text(report: GateReport, root: Path, plan_path: Path | None = None) -> str:
    """Findings grouped per gate, errors first, each as file:line so an editor can jump to it."""
    lines = [f"fleet check {escape(str(root))}"]
    summary = report.summary
    for gate in GATES:
        if gate not in summary["gates"]:
            continue
        s = summary["gates"][gate]
        status = "FAIL" if s["errors"] else "ok"
        lines.append(f"\n[{gate}] {status}: {s['errors']} error(s), {s['warnings']} warning(s) "
                     f"in {s['seconds']:.2f}s")
        mine = sorted((f for f in report.findings if f.gate == gate),
                      key=lambda f: (f.severity != "error", f.file, f.line or 0))
        for f in mine:
            lines.append(f"  {f.severity.upper():7} {escape(f.where())}  {escape(f.rule)}: "
                         f"{escape(f.message)}")
    checked = summary["checked"]
    lines.append(f"\nchecked: {checked['templates']} template(s), {checked['resources']} "
                 f"resource(s), {checked['history_blobs']} history blob(s); "
                 f"{len(checked['skipped'])} skipped")
    for item in checked["skipped"]:
        lines.append(f"  SKIPPED {escape(item['file'])}: {escape(item['reason'])}")
    lines.append(f"\n{summary['errors']} error(s), {summary['warnings']} warning(s)")
    if plan_path:
        lines.append(f"git history holds secrets: purge plan written to {escape(str(plan_path))}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Standalone entry: python -m fleet.gates.command [PATH] [--format] [--no-history]."""
    import argparse

    parser = argparse.ArgumentParser(prog="fleet check")
    parser.add_argument("path", nargs="?")
    parser.add_argument("--format", default="text", choices=["text", "json"])
    parser.add_argument("--no-history", action="store_true")
    parser.add_argument("--gate", action="append", choices=list(GATES),
                        help="run only this gate (repeatable)")
    args = parser.parse_args(argv)
    return check_command(args.path, args.format, not args.no_history,
                         gates=set(args.gate) if args.gate else None)


if __name__ == "__main__":
    sys.exit(main())
