"""The run report: per stage and per account, as JSON (for machines) and HTML and text (for people).

Built from plain stage results (``RunResults``) and each stage's status; whoever ran the stages
(the Airflow adapters, a test) gathers those.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field

from fleet.approval import safe_key
from fleet.aws import AwsContext
from fleet.display import escape

STAGES = ("source", "build", "beta", "gamma", "prod")
STAGE_STATUSES = ("success", "failed", "skipped", "incomplete", "not run")


@dataclass
class RunResults:
    """What the stages of one run returned; None (or absent) where a stage did not run or failed first."""

    bundle: dict | None = None  # the source stage's Bundle, as a dict
    gates: dict | None = None
    deployments: dict[str, list[dict]] = field(default_factory=dict)  # environment -> started deployments
    tests: dict[str, dict] = field(default_factory=dict)  # environment -> integration tests
    bake: dict | None = None
    plan: dict | None = None
    approval: dict | None = None  # a human's decision
    auto_approval: dict | None = None  # the pipeline's own record for an empty plan
    rollout: dict | None = None
    catalog: dict | None = None


def assemble(run_id: str, statuses: dict[str, str], results: RunResults) -> dict:
    """The report of a run: ``statuses`` maps each of STAGES to one of STAGE_STATUSES."""
    bundle = results.bundle or {}
    stages: dict[str, dict] = {s: {"status": statuses.get(s, "not run")} for s in STAGES}
    if bundle:
        stages["source"]["summary"] = f"{bundle['files']} files, digest {bundle['digest'][:12]}"
    if gates := results.gates:
        stages["build"]["summary"] = f"{gates['errors']} errors, {gates['warnings']} warnings"
    for env in ("beta", "gamma"):
        tests = results.tests.get(env)
        deployed = results.deployments.get(env)
        if tests:
            stages[env]["accounts"] = account_rows(tests["deployments"], tests["checks"])
            ok = sum(c["ok"] for c in tests["checks"])
            stages[env]["summary"] = f"{len(tests['deployments'])} stacks, {ok}/{len(tests['checks'])} checks passed"
        elif deployed:
            stages[env]["accounts"] = account_rows(deployed)
    if roll := results.rollout:
        back = {(r["account_id"], r["region"]): r["status"] for w in roll["waves"] for r in w.get("rolled_back", [])}
        rows = [{**r, "status": f"{r['status']}, then {back[(r['account_id'], r['region'])]}"}
                if (r["account_id"], r["region"]) in back else r for w in roll["waves"] for r in w["results"]]
        stages["prod"]["accounts"] = account_rows(rows) + [
            {"account": n, "account_id": "", "region": "", "status": "not started", "detail": ""}
            for n in roll["not_started"]] + [
            {"account": n, "account_id": "", "region": "", "status": "not in the approved plan",
             "detail": "left for the next run"} for n in roll.get("not_in_plan", [])]
        stages["prod"]["summary"] = f"{len(roll['waves'])} waves, {len(rows)} stacks" + (
            ", HALTED" if roll["halted"] else "")
    if cat := results.catalog:
        versions = ", ".join(f"{p['product']} {p['version']}" for p in cat["products"])
        stages["prod"]["summary"] = stages["prod"].get("summary", "") + f"; catalog: {versions}"
    if plan := results.plan:
        decided = "approved automatically" if results.auto_approval else (
            f"approved by {results.approval.get('approver')}" if results.approval else "not approved")
        stages["prod"]["plan"] = f"{plan['summary']}; {decided}"
        stages["prod"].setdefault("summary", f"plan: {plan['summary']}")
    if bake := results.bake:
        stages["gamma"]["summary"] = stages["gamma"].get("summary", "") + f"; baked {bake['baked_minutes']} min"
    return build(run_id, bundle, stages)


def status_of(report: dict) -> str:
    """The run's status: failed when any stage failed."""
    return "failed" if any(s["status"] == "failed" for s in report["stages"].values()) else "success"


def store(ctx: AwsContext, report: dict) -> str | None:
    """Write the report (JSON and HTML) beside the run's bundle; its JSON location, or None without a bundle."""
    bucket = report["bundle"].get("bucket")
    if not bucket:
        return None
    key = f"reports/{safe_key(report['run_id'])}"
    s3 = ctx.client("s3")
    s3.put_object(Bucket=bucket, Key=f"{key}/report.json", Body=json.dumps(report, indent=1, default=str).encode(),
                  ContentType="application/json")
    s3.put_object(Bucket=bucket, Key=f"{key}/report.html", Body=to_html(report).encode(), ContentType="text/html")
    return f"s3://{bucket}/{key}/report.json"


def build(run_id: str, bundle: dict, stages: dict[str, dict]) -> dict:
    """``stages``: stage name -> {"status": ..., "accounts": [{account, region, status, detail}], ...}."""
    accounts: dict[str, dict[str, str]] = {}
    for stage, doc in stages.items():
        for row in doc.get("accounts", []):
            accounts.setdefault(row["account"], {})[stage] = row["status"]
    return {"run_id": run_id, "bundle": {k: bundle.get(k) for k in ("digest", "commit", "bucket")},
            "stages": stages, "accounts": accounts}


def account_rows(deployments: list[dict], checks: list[dict] | None = None) -> list[dict]:
    failed = Counter()
    for c in checks or []:
        if not c["ok"]:
            failed[(c["account_name"], c["region"])] += 1
    rows = []
    for d in deployments:
        status = d["status"]
        if failed[(d["account_name"], d["region"])]:
            status = f"{status}, {failed[(d['account_name'], d['region'])]} checks failed"
        row = {"account": d["account_name"], "account_id": d["account_id"], "region": d["region"],
               "status": status, "detail": d.get("error") or ""}
        if d.get("try_number"):
            row["try"] = d["try_number"]  # which try of the run deployed it (a retried rollout)
            if d["status"] in ("created", "updated") and not row["detail"]:
                row["detail"] = f"by try {d['try_number']}"
        rows.append(row)
    return rows


def _bundle_line(report: dict) -> str:
    digest, commit = report["bundle"].get("digest"), report["bundle"].get("commit")
    if not digest:
        return "bundle -  (the run stopped before the source snapshot made one)"
    return f"bundle {digest[:12]}  commit {str(commit or '-')[:12]}"


def to_text(report: dict) -> str:
    lines = [f"run {report['run_id']}  {_bundle_line(report)}", "", "stage      status     summary"]
    for stage, doc in report["stages"].items():
        lines.append(f"{stage:<10} {doc.get('status', '?'):<10} {doc.get('summary', '')}")
        if doc.get("plan"):
            lines.append(f"{'':<21} plan: {doc['plan']}")
        if doc.get("reason"):
            lines.append(f"{'':<21} why: {doc['reason']}")
    if report.get("failures"):
        lines += ["", "failures"] + [f"  {f['stage']:<8} {f['task']:<28} {f['state']:<16} {f['reason']}"
                                     for f in report["failures"]]
    if roll := report.get("rollout"):
        lines += ["", "prod waves" + (f"  HALTED: {roll['halt_reason']}" if roll.get("halted") else "")]
        lines += [f"  wave {w['wave']}: {w['outcome']:<17} {len(w['accounts'])} accounts"
                  + (f", failed {', '.join(w['failed_accounts'])}" if w["failed_accounts"] else "")
                  for w in roll["waves"]]
    if report["accounts"]:
        stages = [s for s in report["stages"] if any(s in v for v in report["accounts"].values())]
        lines += ["", "account".ljust(16) + "".join(s.ljust(26) for s in stages)]
        for account, by_stage in sorted(report["accounts"].items()):
            lines.append(account.ljust(16) + "".join(by_stage.get(s, "-").ljust(26) for s in stages))
    # Reasons and names come from outside (AWS errors, the repo's files): no line of theirs forges ours.
    return "\n".join(escape(line) for line in lines)


def to_html(report: dict) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(s)}</td><td>{e(str(d.get('status')))}</td><td>{e(str(d.get('summary', '')))}</td>"
                   f"<td>{e(str(d.get('reason', '')))}</td></tr>" for s, d in report["stages"].items())
    stages = list(report["stages"])
    acc = "".join("<tr><td>" + e(a) + "</td>" + "".join(f"<td>{e(v.get(s, '-'))}</td>" for s in stages) + "</tr>"
                  for a, v in sorted(report["accounts"].items()))
    head = "".join(f"<th>{e(s)}</th>" for s in stages)
    return (f"<!doctype html><meta charset=utf-8><title>fleet run {e(report['run_id'])}</title>"
            f"<h1>fleet run {e(report['run_id'])}</h1><p>{e(_bundle_line(report))}</p>"
            f"<table border=1><tr><th>stage</th><th>status</th><th>summary</th><th>why</th></tr>{rows}</table>"
            f"<h2>accounts</h2><table border=1><tr><th>account</th>{head}</tr>{acc}</table>"
            f"<pre>{e(json.dumps(report, indent=1, default=str))}</pre>")
