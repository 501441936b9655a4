"""The run report: per stage and per account, as JSON (for machines) and HTML and text (for people)."""

from __future__ import annotations

import html
import json
from collections import Counter


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
        rows.append({"account": d["account_name"], "account_id": d["account_id"], "region": d["region"],
                     "status": status, "detail": d.get("error") or ""})
    return rows


def to_text(report: dict) -> str:
    lines = [f"run {report['run_id']}  bundle {str(report['bundle'].get('digest'))[:12]}  "
             f"commit {str(report['bundle'].get('commit') or '-')[:12]}", "", "stage      status     summary"]
    for stage, doc in report["stages"].items():
        lines.append(f"{stage:<10} {doc.get('status', '?'):<10} {doc.get('summary', '')}")
        if doc.get("plan"):
            lines.append(f"{'':<21} plan: {doc['plan']}")
    if report["accounts"]:
        stages = [s for s in report["stages"] if any(s in v for v in report["accounts"].values())]
        lines += ["", "account".ljust(16) + "".join(s.ljust(26) for s in stages)]
        for account, by_stage in sorted(report["accounts"].items()):
            lines.append(account.ljust(16) + "".join(by_stage.get(s, "-").ljust(26) for s in stages))
    return "\n".join(lines)


def to_html(report: dict) -> str:
    e = html.escape
    rows = "".join(f"<tr><td>{e(s)}</td><td>{e(str(d.get('status')))}</td><td>{e(str(d.get('summary', '')))}</td></tr>"
                   for s, d in report["stages"].items())
    stages = list(report["stages"])
    acc = "".join("<tr><td>" + e(a) + "</td>" + "".join(f"<td>{e(v.get(s, '-'))}</td>" for s in stages) + "</tr>"
                  for a, v in sorted(report["accounts"].items()))
    head = "".join(f"<th>{e(s)}</th>" for s in stages)
    return (f"<!doctype html><meta charset=utf-8><title>fleet run {e(report['run_id'])}</title>"
            f"<h1>fleet run {e(report['run_id'])}</h1><p>bundle {e(str(report['bundle'].get('digest')))}</p>"
            f"<table border=1><tr><th>stage</th><th>status</th><th>summary</th></tr>{rows}</table>"
            f"<h2>accounts</h2><table border=1><tr><th>account</th>{head}</tr>{acc}</table>"
            f"<pre>{e(json.dumps(report, indent=1, default=str))}</pre>")
