"""Drift: has anything changed a baseline stack's resources behind the pipeline's back?

Every ACTIVE account of the organization that has a baseline stack, in every region the baseline
names, checked with CloudFormation's own drift detection (DetectStackDrift, polled with
DescribeStackDriftDetectionStatus, then DescribeStackResourceDrifts): only what the template sets
is compared. Stacks are checked concurrently with a bounded thread pool; one account that cannot
be checked (role not assumable, throttled past the retries, detection failed) is reported as
UNKNOWN and never hides the others. The report goes to the artifacts bucket as JSON and text.
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
from fleet.config import FleetConfig

DONE = {"DETECTION_COMPLETE", "DETECTION_FAILED"}
STATUSES = ("DRIFTED", "IN_SYNC", "UNKNOWN")  # per stack, in the report's order of urgency
DRIFTED_RESOURCE = {"MODIFIED", "DELETED"}


def detect_one(ctx: AwsContext, target: stacks.StackTarget, *, timeout: float = 900, poll: float = 5.0,
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> dict:
    """Drift of one stack: status DRIFTED | IN_SYNC | UNKNOWN, or NO_STACK when it is not there."""
    row = {"account_id": target.account_id, "account_name": target.account_name, "region": target.region,
           "stack_name": target.stack_name}
    try:
        described = stacks.describe_stack(ctx, target)
        if described is None or described["StackStatus"] == "REVIEW_IN_PROGRESS":
            # REVIEW_IN_PROGRESS: only a planned change set (a dry run), nothing deployed yet.
            return {**row, "status": "NO_STACK", "resources": []}
        if described["StackStatus"].endswith("_IN_PROGRESS"):
            return {**row, "status": "UNKNOWN", "resources": [],
                    "error": f"stack is {described['StackStatus']}: drift is checked on settled stacks"}
        cfn = ctx.client("cloudformation", target.account_id, target.region)
        detection = cfn.detect_stack_drift(StackName=target.stack_name)["StackDriftDetectionId"]
        started = clock()
        while (status := cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection))[
                "DetectionStatus"] not in DONE:
            if clock() - started > timeout:
                return {**row, "status": "UNKNOWN", "detection_id": detection, "resources": [],
                        "error": f"drift detection {detection} still running after {timeout:.0f}s"}
            sleep(poll)
        drifts = _resource_drifts(cfn, target.stack_name)
    except Exception as exc:  # one account that cannot be checked must not hide the others
        return {**row, "status": "UNKNOWN", "resources": [], "error": f"{type(exc).__name__}: {exc}"}
    counts: dict[str, int] = {}
    for d in drifts:
        counts[d["StackResourceDriftStatus"]] = counts.get(d["StackResourceDriftStatus"], 0) + 1
    resources = [{"logical_id": d["LogicalResourceId"], "physical_id": d.get("PhysicalResourceId"),
                  "type": d["ResourceType"], "status": d["StackResourceDriftStatus"],
                  "differences": [{"path": p["PropertyPath"], "expected": p["ExpectedValue"],
                                   "actual": p["ActualValue"], "type": p["DifferenceType"]}
                                  for p in d.get("PropertyDifferences", [])]}
                 for d in drifts if d["StackResourceDriftStatus"] in DRIFTED_RESOURCE]
    stack_status = status.get("StackDriftStatus")
    out = {**row, "detection_id": detection, "resource_counts": counts, "resources": resources,
           "checked_at": _iso(status.get("Timestamp"))}
    if status["DetectionStatus"] == "DETECTION_FAILED":
        # Results exist for the resources CloudFormation could check: drift found among them is
        # still drift; "in sync" is not a verdict when some resources were never checked.
        reason = status.get("DetectionStatusReason") or "drift detection failed"
        return {**out, "status": "DRIFTED" if stack_status == "DRIFTED" else "UNKNOWN", "error": reason}
    if stack_status not in ("DRIFTED", "IN_SYNC"):
        return {**out, "status": "UNKNOWN", "error": f"stack drift status {stack_status}"}
    return {**out, "status": stack_status}


def _resource_drifts(cfn, stack_name: str) -> list[dict]:
    out, token = [], None
    while True:
        page = cfn.describe_stack_resource_drifts(StackName=stack_name, MaxResults=100,
                                                  **({"NextToken": token} if token else {}))
        out += page["StackResourceDrifts"]
        token = page.get("NextToken")
        if not token:
            return out


def targets(ctx: AwsContext, fleet: FleetConfig) -> list[stacks.StackTarget]:
    """Every (ACTIVE account, baseline, baseline region), from the live organization."""
    accounts = sorted((a for a in read_org(ctx, with_tags=False).accounts if a.status == "ACTIVE"),
                      key=lambda a: (a.name, a.id))
    return [stacks.StackTarget(a.id, a.name, region, b.stack_name, "")
            for b in fleet.baselines for region in b.regions for a in accounts]


def detect_fleet(ctx: AwsContext, fleet: FleetConfig, *, max_concurrent: int = 20, run_id: str | None = None,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), **kw) -> dict:
    """The drift report of every baseline stack in the fleet. ``kw`` goes to ``detect_one``
    (timeout, poll, sleep, clock)."""
    started = now()
    found = targets(ctx, fleet)
    baseline_of = {b.stack_name: b.name for b in fleet.baselines}
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(found) or 1))) as pool:
        rows = [r for r in pool.map(lambda t: detect_one(ctx, t, **kw), found) if r["status"] != "NO_STACK"]
    for r in rows:
        r["baseline"] = baseline_of.get(r["stack_name"])
    rows.sort(key=lambda r: (STATUSES.index(r["status"]), r["account_name"], r["region"], r["stack_name"]))
    counts = {s.lower(): sum(r["status"] == s for r in rows) for s in STATUSES}
    # Accounts with no baseline stack at all (a baseline that targets only some accounts is absent elsewhere).
    without = len({t.account_id for t in found} - {r["account_id"] for r in rows})
    summary = {"stacks": len(rows), **counts, "accounts_without_stack": without,
               "drifted_resources": sum(len(r["resources"]) for r in rows),
               "text": (f"{len(rows)} baseline stacks: {counts['drifted']} drifted, {counts['in_sync']} in sync, "
                        f"{counts['unknown']} could not be checked")}
    return {"kind": "fleet-drift-report", "run_id": run_id,
            "management_account": fleet.organization.management_account,
            "started_at": _iso(started), "finished_at": _iso(now()),
            "baselines": [{"name": b.name, "stack_name": b.stack_name, "regions": list(b.regions)}
                          for b in fleet.baselines],
            "summary": summary, "stacks": rows}


def report_prefix(run_id: str) -> str:
    return "drift/" + "".join(c if c.isalnum() or c in "-_.+" else "_" for c in run_id) + "/"


def write_report(ctx: AwsContext, fleet: FleetConfig, report: dict, run_id: str) -> dict:
    """report.json and report.txt under drift/<run id>/ in the artifacts bucket; returns their URLs."""
    org = fleet.organization
    bucket = source.artifacts_bucket(org.management_account, org.home_region)
    s3 = ctx.client("s3", None, org.home_region)
    prefix = report_prefix(run_id)
    out = {}
    for name, body, content_type in (
            ("report.json", json.dumps(report, indent=1, sort_keys=True, default=str), "application/json"),
            ("report.txt", to_text(report) + "\n", "text/plain; charset=utf-8")):
        s3.put_object(Bucket=bucket, Key=prefix + name, Body=body.encode(), ContentType=content_type)
        out[name.split(".")[1]] = f"s3://{bucket}/{prefix}{name}"
    return out


def to_text(report: dict) -> str:
    """The short text: the summary line, then every stack that is not in sync and why."""
    lines = [report["summary"]["text"]]
    for r in report["stacks"]:
        if r["status"] == "IN_SYNC":
            continue
        lines.append(f"  {r['status']:<8} {r['account_name']} ({r['account_id']}) {r['region']} {r['stack_name']}"
                     + (f": {r['error']}" if r.get("error") else ""))
        for res in r["resources"]:
            lines.append(f"    {res['status']:<8} {res['logical_id']} ({res['type']})")
            lines += [f"      {d['type']} {d['path']}: expected {d['expected']}, actual {d['actual']}"
                      for d in res["differences"]]
    return "\n".join(lines)


def xcom_summary(report: dict, locations: dict, limit: int = 50) -> dict:
    """What the DAG passes between tasks: counts, where the report is, and the first stacks to fix
    (the full report can be megabytes at 1,000 accounts; it lives in S3, not in XCom)."""
    not_in_sync = [{k: r.get(k) for k in ("account_name", "account_id", "region", "stack_name", "status", "error")}
                   | {"resources": len(r["resources"])} for r in report["stacks"] if r["status"] != "IN_SYNC"]
    return {**report["summary"], "report": locations, "not_in_sync": not_in_sync[:limit],
            "not_in_sync_omitted": max(0, len(not_in_sync) - limit)}


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).isoformat(timespec="seconds")
    return str(value)
