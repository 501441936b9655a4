"""Drift: has anything changed a baseline stack's resources behind the pipeline's back?

Every account that has a baseline stack, every baseline region, with CloudFormation's own drift
detection (only what the template sets is compared). The report goes to the artifacts bucket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

from fleet import source, stacks
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.spec import Fleet

DONE = {"DETECTION_COMPLETE", "DETECTION_FAILED"}


def detect_one(ctx: AwsContext, target: stacks.StackTarget, *, timeout: float = 600, poll: float = 5.0,
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time) -> dict:
    row = {"account_id": target.account_id, "account_name": target.account_name, "region": target.region,
           "stack_name": target.stack_name}
    cfn = ctx.client("cloudformation", target.account_id, target.region)
    if stacks.describe_stack(ctx, target) is None:
        return {**row, "status": "NO_STACK", "resources": []}
    try:
        detection = cfn.detect_stack_drift(StackName=target.stack_name)["StackDriftDetectionId"]
        started = clock()
        while (status := cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection))[
                "DetectionStatus"] not in DONE:
            if clock() - started > timeout:
                return {**row, "status": "UNKNOWN", "error": f"detection still running after {timeout:.0f}s",
                        "resources": []}
            sleep(poll)
        drifted = cfn.describe_stack_resource_drifts(
            StackName=target.stack_name, StackResourceDriftStatusFilters=["MODIFIED", "DELETED"])
    except Exception as exc:  # one account that cannot be checked must not hide the others
        return {**row, "status": "UNKNOWN", "error": f"{type(exc).__name__}: {exc}", "resources": []}
    resources = [{"logical_id": d["LogicalResourceId"], "type": d["ResourceType"],
                  "status": d["StackResourceDriftStatus"],
                  "differences": [{"path": p["PropertyPath"], "expected": p["ExpectedValue"],
                                   "actual": p["ActualValue"], "type": p["DifferenceType"]}
                                  for p in d.get("PropertyDifferences", [])]}
                 for d in drifted["StackResourceDrifts"]]
    return {**row, "status": status.get("StackDriftStatus", "UNKNOWN"), "resources": resources,
            **({"error": status["DetectionStatusReason"]} if status.get("DetectionStatusReason") else {})}


def detect_fleet(ctx: AwsContext, fleet: Fleet, *, max_concurrent: int = 20, **kw) -> dict:
    """Drift of every baseline stack in every ACTIVE account of the organization."""
    accounts = [a for a in read_org(ctx, with_tags=False).accounts if a.status == "ACTIVE"]
    targets = [stacks.StackTarget(a.id, a.name, region, b.stack_name, "")
               for b in fleet.baselines for region in b.regions for a in accounts]
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets) or 1))) as pool:
        rows = [r for r in pool.map(lambda t: detect_one(ctx, t, **kw), targets) if r["status"] != "NO_STACK"]
    counts = {s: sum(r["status"] == s for r in rows) for s in ("IN_SYNC", "DRIFTED", "UNKNOWN")}
    return {"checked_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stacks": len(rows),
            **{k.lower(): v for k, v in counts.items()},
            "summary": f"{len(rows)} baseline stacks: {counts['DRIFTED']} drifted, {counts['IN_SYNC']} in sync, "
                       f"{counts['UNKNOWN']} could not be checked",
            "drifted": sorted((r for r in rows if r["status"] != "IN_SYNC"), key=lambda r: r["account_name"]),
            "results": rows}


def write_report(ctx: AwsContext, fleet: Fleet, report: dict, run_id: str) -> str:
    bucket = source.artifacts_bucket(fleet.organization.management_account, ctx.region)
    key = f"drift/{''.join(c if c.isalnum() or c in '-_.+' else '_' for c in run_id)}/report.json"
    ctx.client("s3").put_object(Bucket=bucket, Key=key, Body=json.dumps(report, indent=1).encode(),
                                ContentType="application/json")
    return f"s3://{bucket}/{key}"


def to_text(report: dict) -> str:
    lines = [report["summary"]]
    for r in report["drifted"]:
        lines.append(f"  {r['account_name']}/{r['region']} {r['stack_name']}: {r['status']} {r.get('error', '')}")
        for res in r["resources"]:
            lines.append(f"    {res['logical_id']} ({res['type']}): {res['status']}")
            lines += [f"      {d['path']}: expected {d['expected']}, actual {d['actual']}" for d in res["differences"]]
    return "\n".join(lines)
