"""The fleet-wide plan: every target's change set, aggregated into one artifact and one paragraph.

What an approver needs is the shape of the change across the fleet, not 200 change sets:
how many accounts change at all, and whether anything is replaced, deleted or touches IAM.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter

from fleet.stacks import ChangeSetPlan, StackTarget


ACTIONS = ("add", "modify", "replace", "delete", "retain", "unchanged", "pending", "failed")
MASK = "****"


def shown_parameters(target: StackTarget) -> dict[str, str]:
    """The parameters as the approver sees them: NoEcho ones masked, waiting ones as written."""
    shown = {k: (MASK if k in target.masked else v) for k, v in target.parameters.items()}
    shown.update({k: f"(after deployment) {v}" for k, v in target.waiting.items()})
    return dict(sorted(shown.items()))


def action_of(row: dict) -> str:
    """add / modify / replace / unchanged / pending / failed for a planned stack."""
    if row["status"] in ("failed", "pending"):
        return row["status"]
    if row["status"] == "no-changes":
        return "unchanged"
    if row["type"] == "CREATE":
        return "add"
    return "replace" if row["replacements"] else "modify"


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
            "resources": change.changes, "baseline": t.baseline, "parameters": shown_parameters(t)}


def pending(target: StackTarget, exists: bool, why: str) -> dict:
    """A stack whose change set can only be made once a dependency in its account is deployed."""
    row = account_changes(ChangeSetPlan(target, "", "UPDATE" if exists else "CREATE", "pending", reason=why))
    return row | {"action": "pending" if exists else "add"}


def removal(entry, account_name: str, action: str, why: str, resources: list[dict]) -> dict:
    """A stack the pipeline deployed that the config no longer wants there (``action`` delete or retain)."""
    deleting = action == "delete"
    return {"account_id": entry.account_id, "account_name": account_name, "region": entry.region,
            "stack_name": entry.stack_name, "change_set": "", "type": "DELETE" if deleting else "RETAIN",
            "status": action, "reason": why, "adds": 0, "modifies": 0, "replacements": 0,
            "deletions": len(resources) if deleting else 0,
            "iam_changes": sum(str(r.get("type") or "").startswith("AWS::IAM::") for r in resources) if deleting else 0,
            "resources": [{**r, "action": "Remove"} for r in resources] if deleting else [],
            "baseline": entry.baseline, "parameters": {}, "action": action}


def aggregate(bundle_digest: str, rows: list[dict], waves: list[list[str]], removals: list[dict] = ()) -> dict:
    """Every planned stack (in deployment order per account) and removal (in deletion order) as one
    document; the plan digest covers both, so a plan that grew a deletion needs a new approval."""
    for r in rows:
        r.setdefault("action", action_of(r))
    rows = sorted(rows, key=lambda r: (r["account_name"], r["region"])) + list(removals)  # stable: order kept
    changing = [r for r in rows if r["status"] in ("ready", "pending", "delete", "retain")]
    failed = [r for r in rows if r["status"] == "failed"]
    totals = {k: sum(r[k] for r in rows) for k in ("adds", "modifies", "replacements", "deletions", "iam_changes")}
    accounts = {r["account_id"] for r in rows}
    summary = (f"{len(accounts)} accounts: {len({r['account_id'] for r in changing})} change, "
               f"{totals['replacements']} replacements, {totals['deletions']} deletions, "
               f"{totals['iam_changes']} IAM changes ({totals['adds']} adds, {totals['modifies']} modifies) "
               f"in {len(waves)} waves ({', '.join(str(len(w)) for w in waves)})")
    actions = Counter(r["action"] for r in rows)
    if len({r.get("baseline") for r in rows}) > 1 or removals:
        summary += "; stacks: " + ", ".join(f"{actions[a]} {a}" for a in ACTIONS if actions[a])
    if failed:
        summary += f"; {len(failed)} change sets FAILED to plan"
    return {"plan_digest": plan_digest(bundle_digest, rows),
            "bundle_digest": bundle_digest, "summary": summary, "empty": not changing and not failed,
            "failed": len(failed), "totals": totals, "actions": {a: actions[a] for a in ACTIONS},
            "removals": len(removals), "waves": waves, "accounts": rows}


def to_text(doc: dict) -> str:
    """The plan per account and baseline, in deployment order (removals last, in deletion order):
    what the approver reads, with the resolved parameters (NoEcho ones masked) and why."""
    lines = [f"prod plan: {doc['summary']}", "",
             f"{'account':<16}{'region':<11}{'baseline':<20}{'action':<11}parameters / why"]
    for r in doc.get("accounts", []):
        detail = ", ".join(f"{k}={v}" for k, v in (r.get("parameters") or {}).items())
        if r.get("reason"):
            detail = f"{detail}; {r['reason']}" if detail else r["reason"]
        lines.append(f"{r['account_name']:<16}{r['region']:<11}{r.get('baseline') or r['stack_name']:<20}"
                     f"{r.get('action') or r['status']:<11}{detail}")
    return "\n".join(lines)


def plan_digest(bundle_digest: str, rows: list[dict]) -> str:
    """What the approval is bound to: the bundle and, per stack, the change set's status, resources,
    action and resolved parameters (removals included)."""
    body = {"bundle_digest": bundle_digest, "targets": [
        {k: r.get(k) for k in ("account_id", "region", "stack_name", "status", "resources", "action", "parameters")}
        for r in rows]}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


# -- the approved plan binds the rollout ------------------------------------------------------------

NOT_IN_PLAN = "not in the approved plan; left for the next run"


class PlanMismatch(RuntimeError):
    """The stored plan is not the one approved (edited, or of another bundle)."""


def verify(doc: dict, approved_digest: str, bundle_digest: str) -> dict:
    """``doc`` (the stored plan) checked against the digest the approval names; its rows by target."""
    try:
        rows, digest = doc["accounts"], plan_digest(doc["bundle_digest"], doc["accounts"])
    except (KeyError, TypeError) as exc:
        raise PlanMismatch(f"the stored plan is not a plan ({type(exc).__name__}: {exc})") from None
    if digest != approved_digest or doc["bundle_digest"] != bundle_digest:
        raise PlanMismatch(f"the stored plan (digest {digest[:12]}, bundle {str(doc['bundle_digest'])[:12]}) is not "
                           f"the approved plan {approved_digest[:12]} of bundle {bundle_digest[:12]}; nothing deployed")
    return {target_key(r): r for r in rows}


def target_key(row) -> tuple[str, str, str]:
    if isinstance(row, dict):
        return row["account_id"], row["region"], row["stack_name"]
    return row.account_id, row.region, row.stack_name


def difference(planned: dict | None, change: ChangeSetPlan) -> str | None:
    """Why the change set about to run is not the one approved, or None. A change set with no
    changes runs nothing, so only one that would change something is compared."""
    if change.status != "ready":
        return None
    if planned is None:
        return "no change set was planned for this stack"
    if planned["status"] == "pending":
        # Approved knowing its parameters wait for a dependency's outputs in this account (fleet.deploy):
        # its change set can only be made now; the kind of change must still be the approved one.
        if planned.get("type") and planned["type"] != change.change_set_type:
            return f"the approved plan was a {planned['type']}, this is a {change.change_set_type}"
        return None
    if planned["status"] != "ready":
        return f"the approved plan had {planned['status']} here, now it would make {len(change.changes)} change(s)"
    if planned.get("type") and planned["type"] != change.change_set_type:
        return f"the approved plan was a {planned['type']}, this is a {change.change_set_type}"
    if _resources(planned["resources"]) != _resources(change.changes):
        return "its resource changes are not the ones approved"
    return None


def _resources(items: list[dict]) -> list[str]:
    return sorted(json.dumps(i, sort_keys=True) for i in items or [])
