"""The fleet-wide plan: every target's change set, aggregated into one artifact and one paragraph.

What an approver needs is the shape of the change across the fleet, not 200 change sets:
how many accounts change at all, and whether anything is replaced, deleted or touches IAM.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from fleet.stacks import ChangeSetPlan


def account_changes(change: ChangeSetPlan) -> dict:
    """One target's change set as counts plus the resource list (no property values: no secrets)."""
    counts = Counter()
    for c in change.changes:
        action = (c.get("action") or "").lower()
        counts[{"add": "adds", "modify": "modifies", "remove": "deletions"}.get(action, "other")] += 1
        if c.get("replacement") in {"True", "Conditional"}:
            counts["replacements"] += 1
        if str(c.get("type") or "").startswith("AWS::IAM::"):
            counts["iam_changes"] += 1
    t = change.target
    return {"account_id": t.account_id, "account_name": t.account_name, "region": t.region,
            "stack_name": t.stack_name, "change_set": change.change_set_name, "type": change.change_set_type,
            "status": change.status, "reason": change.reason,
            **{k: counts.get(k, 0) for k in ("adds", "modifies", "replacements", "deletions", "iam_changes")},
            "resources": change.changes}


def aggregate(bundle_digest: str, rows: list[dict], waves: list[list[str]]) -> dict:
    rows = sorted(rows, key=lambda r: (r["account_name"], r["region"], r["stack_name"]))
    changing = [r for r in rows if r["status"] == "ready"]
    failed = [r for r in rows if r["status"] == "failed"]
    totals = {k: sum(r[k] for r in rows) for k in ("adds", "modifies", "replacements", "deletions", "iam_changes")}
    accounts = {r["account_id"] for r in rows}
    summary = (f"{len(accounts)} accounts: {len({r['account_id'] for r in changing})} change, "
               f"{totals['replacements']} replacements, {totals['deletions']} deletions, "
               f"{totals['iam_changes']} IAM changes ({totals['adds']} adds, {totals['modifies']} modifies) "
               f"in {len(waves)} waves ({', '.join(str(len(w)) for w in waves)})")
    if failed:
        summary += f"; {len(failed)} change sets FAILED to plan"
    body = {"bundle_digest": bundle_digest, "targets": [
        {k: r[k] for k in ("account_id", "region", "stack_name", "status", "resources")} for r in rows]}
    return {"plan_digest": hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest(),
            "bundle_digest": bundle_digest, "summary": summary, "empty": not changing and not failed,
            "failed": len(failed), "totals": totals, "waves": waves, "accounts": rows}
