"""Build stage: every gate over the bundle's tree, secrets also over the source repo's git history."""

from __future__ import annotations

import json
from pathlib import Path

from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.gates import run_gates


def gates(ctx: AwsContext, bundle: OpenBundle, repo: Path | None) -> dict:
    """The findings of every gate, stored beside the bundle.

    A secret in history fails the build and leaves a purge plan beside the bundle. The pipeline
    never rewrites history itself: whoever can trigger a run is not thereby allowed to force-push
    the fleet repo's remote. The rewrite is ``fleet cleanse``, run by someone with push rights.
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
    s3.put_object(Bucket=bundle.bucket, Key=f"{prefix}/findings.json", Body=json.dumps(doc, indent=1).encode())
    return doc


def _in_git(path: Path) -> bool:
    return any((p / ".git").exists() for p in [path, *path.parents])
