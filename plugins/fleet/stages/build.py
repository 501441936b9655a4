"""Build stage: every gate over the bundle's tree, secrets also over the source repo's git history."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.gates import run_gates
from fleet.gates.findings import Finding


def gates(ctx: AwsContext, bundle: OpenBundle, repo: Path | None, *, history: dict | None = None) -> dict:
    """The findings of every gate, stored beside the bundle.

    The history scan runs over ``repo`` (a plain folder this worker can read), or comes as
    ``history``: what the Source task's scan of its clone stored (``stages.source.scan_history``),
    when the fleet repo is a git URL. A scan that cannot run is an error finding, never a skip.
    A secret in history fails the build and leaves a purge plan beside the bundle. Rewriting history
    is never a side effect of a run: someone with push rights runs ``fleet cleanse`` with that plan.
    """
    # On real AWS this validates every policy document with IAM Access Analyzer; local AWS has no
    # Access Analyzer, and the gate says so in one warning instead of passing in silence.
    report = run_gates(bundle.root, history=False, aws_client=ctx.client("accessanalyzer"))
    findings = [f.to_dict() for f in report.findings]
    if history is not None:
        history_found, purge_plan = list(history.get("findings", [])), history.get("purge_plan")
    else:
        history_found, purge_plan = history_findings(repo)
    findings += history_found
    doc = {"digest": bundle.digest, "findings": findings,
           "errors": sum(f["severity"] == "error" for f in findings),
           "warnings": sum(f["severity"] == "warning" for f in findings), "summary": report.summary}
    s3 = ctx.client("s3")
    prefix = f"bundles/{bundle.digest}"
    if purge_plan:
        doc["purge_plan"] = f"s3://{bundle.bucket}/{prefix}/purge-plan.json"
        s3.put_object(Bucket=bundle.bucket, Key=f"{prefix}/purge-plan.json",
                      Body=json.dumps(purge_plan, indent=1).encode())
        doc["cleanse"] = (f"aws s3 cp {doc['purge_plan']} purge-plan.json && fleet cleanse --remote <the fleet "
                          "repo's remote> --plan purge-plan.json [--push]")
    s3.put_object(Bucket=bundle.bucket, Key=f"{prefix}/findings.json", Body=json.dumps(doc, indent=1).encode())
    return doc


def history_key(bundle) -> str:
    """Where the Source task stores its history scan: beside the bundle, per commit."""
    return f"bundles/{bundle.digest}/history-{bundle.commit or 'none'}.json"


def stored_history(ctx: AwsContext, bundle) -> dict:
    """The Source task's history scan of a git-URL fleet repo; missing, it is an error finding."""
    try:
        body = ctx.client("s3").get_object(Bucket=bundle.bucket, Key=history_key(bundle))["Body"].read()
    except Exception as exc:  # noqa: BLE001 - NoSuchKey and access errors alike: not scanned
        where = f"s3://{bundle.bucket}/{history_key(bundle)}"
        return {"findings": [_history_finding(
            "error", "secrets:history-unavailable", where,
            f"{where}: the Source stage's git history scan is not there ({exc}); run the pipeline "
            f"again from Source")], "purge_plan": None}
    return json.loads(body)


def history_findings(repo: Path | None) -> tuple[list[dict], dict | None]:
    """(the secrets gate's history findings, its purge plan) for ``repo``; a repo whose history
    cannot be scanned gives an error finding, a plain folder outside git a warning."""
    where = str(repo) if repo is not None else "fleet_repo"
    if repo is None or not Path(repo).is_dir():
        return [_history_finding("error", "secrets:history-unavailable", where,
                                 f"{where}: the fleet repo folder is not readable here, so its git history "
                                 f"was not scanned for secrets; give fleet_repo as a git URL on a "
                                 f"multi-worker deployment")], None
    if not _in_git(Path(repo)):
        return [_history_finding("warning", "secrets:no-history", where,
                                 f"{where}: not a git checkout, so there is no history to scan for "
                                 f"secrets (only the files were scanned)")], None
    try:
        history = run_gates(Path(repo), history=True, gates={"secrets"})
    except Exception as exc:  # noqa: BLE001 - any failure to scan is a finding, never a silent pass
        return [_history_finding("error", "secrets:history-unavailable", where,
                                 f"{where}: the git history scan failed: {exc}")], None
    return [f.to_dict() for f in history.findings if f.commit], history.purge_plan


def _history_finding(severity: str, rule: str, where: str, message: str) -> dict:
    return Finding("secrets", rule, severity, where, None, None, message).to_dict()


def _in_git(path: Path) -> bool:
    return any((p / ".git").exists() for p in [path, *path.parents])
