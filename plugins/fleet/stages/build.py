"""Build stage: every gate over the bundle's tree, secrets also over the source repo's git history."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.gates import run_gates
from fleet.gates.cleanse import cleanse


def gates(ctx: AwsContext, bundle: OpenBundle, repo: Path | None, *, cleanse_history: bool = False) -> dict:
    """The findings of every gate, stored beside the bundle.

    A secret in history fails the build and leaves a purge plan beside the bundle; with
    ``cleanse_history`` the source remote's history is rewritten and rescanned (the secret must
    still be rotated).
    """
    # On real AWS this validates every policy document with IAM Access Analyzer; local AWS has no
    # Access Analyzer, and the gate says so in one warning instead of passing in silence.
    report = run_gates(bundle.root, history=False, aws_client=ctx.client("accessanalyzer"))
    findings = [f.to_dict() for f in report.findings]
    purge_plan = None
    if repo is not None and _in_git(repo):
        history = run_gates(repo, history=True, gates={"secrets"})
        findings += [f.to_dict() for f in history.findings if f.commit]
        purge_plan = history.purge_plan
    doc = {"digest": bundle.digest, "findings": findings,
           "errors": sum(f["severity"] == "error" for f in findings),
           "warnings": sum(f["severity"] == "warning" for f in findings), "summary": report.summary}
    s3 = ctx.client("s3")
    prefix = f"bundles/{bundle.digest}"
    if purge_plan:
        doc["purge_plan"] = f"s3://{bundle.bucket}/{prefix}/purge-plan.json"
        s3.put_object(Bucket=bundle.bucket, Key=f"{prefix}/purge-plan.json",
                      Body=json.dumps(purge_plan, indent=1).encode())
        if cleanse_history:
            doc["cleansed"] = cleanse_remote(repo, purge_plan)
    s3.put_object(Bucket=bundle.bucket, Key=f"{prefix}/findings.json", Body=json.dumps(doc, indent=1).encode())
    return doc


def cleanse_remote(repo: Path, purge_plan: dict) -> dict:
    """Rewrite the history of the repo's ``origin`` remote so no planned secret remains, and prove it."""
    remote = subprocess.run(["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True,
                            text=True)
    if remote.returncode != 0:
        return {"ok": False, "error": f"{repo}: no `origin` remote to cleanse"}
    result = cleanse(remote.stdout.strip(), purge_plan)
    return {"ok": result.ok, "remote": result.remote, "rewritten_refs": result.rewritten_refs,
            "remaining_findings": result.remaining_findings}


def _in_git(path: Path) -> bool:
    return any((p / ".git").exists() for p in [path, *path.parents])
