"""Prod: the fleet-wide plan, the automatic approval of an empty plan, and the rollout in waves."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fleet import approval, rollout, stacks
from fleet import plan as plan_mod
from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.config import FleetConfig
from fleet.ledger import Ledger
from fleet.stages.environment import targets as env_targets

PLAN_ROW_KEYS = ("account_name", "region", "status", "adds", "modifies", "replacements", "deletions", "iam_changes")


def waves(ctx: AwsContext, bundle: OpenBundle, only: list[str] | None = None) -> list[list[stacks.StackTarget]]:
    """The prod targets in rollout order, split into the configured waves (by account)."""
    by_account: dict[str, list[stacks.StackTarget]] = {}
    for t in env_targets(ctx, bundle, "prod", only=only):
        by_account.setdefault(t.account_id, []).append(t)
    account_waves = rollout.plan_waves(list(by_account), bundle.config.environments.waves)
    return [[t for acct in wave for t in by_account[acct]] for wave in account_waves]


def wave_settings(fleet: FleetConfig, planned: list[list[stacks.StackTarget]]) -> tuple[list[int], list[int]]:
    """(failure tolerance, max concurrent) of each planned wave, from the configured wave it came from."""
    env = fleet.environments
    total = len({t.account_id for w in planned for t in w})
    configured = rollout.planned_wave_configs(total, env.waves)
    return ([w.failure_tolerance if w.failure_tolerance is not None else env.failure_tolerance for w in configured],
            [w.max_concurrent or env.max_concurrent for w in configured])


def plan(ctx: AwsContext, bundle: OpenBundle, *, run_id: str = "", only: list[str] | None = None,
         max_concurrent: int = 20) -> dict:
    """Change sets in every prod target, aggregated into one plan artifact stored beside the bundle.

    The rollout executes these very change sets (they are named after the digest), so what was
    approved is what runs.
    """
    planned = waves(ctx, bundle, only)
    targets = [t for w in planned for t in w]

    def changes_in(t: stacks.StackTarget) -> dict:
        try:
            return plan_mod.account_changes(stacks.plan(ctx, t, bundle.digest))
        except Exception as exc:  # one account that cannot be planned must not hide the others
            failed = stacks.ChangeSetPlan(t, "", "", "failed", reason=f"{type(exc).__name__}: {exc}")
            return plan_mod.account_changes(failed)

    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets) or 1))) as pool:
        rows = list(pool.map(changes_in, targets))
    doc = plan_mod.aggregate(bundle.digest, rows, [list(dict.fromkeys(t.account_name for t in w)) for w in planned])
    key = f"plans/{approval.safe_key(run_id or bundle.digest)}/plan.json"
    ctx.client("s3").put_object(Bucket=bundle.bucket, Key=key, Body=json.dumps(doc, indent=1).encode(),
                                ContentType="application/json")
    doc["location"] = f"s3://{bundle.bucket}/{key}"
    doc["auto_approve"] = doc["empty"] and bundle.config.approval.auto_approve_empty_plan
    return {k: v for k, v in doc.items() if k != "accounts"} | {
        "accounts": [{k: r[k] for k in PLAN_ROW_KEYS} for r in doc["accounts"]]}


def approval_settings(bundle: OpenBundle) -> dict:
    """The bundle's ``approval`` section as JSON-ready values (the approval store, topic, UI path, and
    the approvers with the public keys their decisions are verified with)."""
    a = bundle.config.approval
    return {"store": a.store, "table": a.table, "topic": a.topic, "ui": a.ui, "approvers": a.identities(),
            "timeout_hours": a.timeout_hours}


class NotEmpty(RuntimeError):
    """The plan an automatic approval was asked for is not (or no longer) empty."""


def record_automatic_approval(ctx: AwsContext, bundle: OpenBundle, run_id: str, planned: dict,
                              only: list[str] | None = None) -> dict:
    """Approve an empty plan without a human, after recomputing it: no key can vouch for emptiness,
    the live change sets can. Refused unless the plan made now is empty and has the planned digest
    (an XCom claiming ``empty`` proves nothing). The unsigned record is the audit trail."""
    if not bundle.config.approval.auto_approve_empty_plan:
        raise NotEmpty("approval.auto_approve_empty_plan is off: a human decides")
    again = plan(ctx, bundle, run_id=run_id, only=only)
    if not again["empty"] or again["plan_digest"] != planned.get("plan_digest"):
        raise NotEmpty(f"the plan is not empty when recomputed ({again['summary']}; plan "
                       f"{again['plan_digest'][:12]}, asked for {str(planned.get('plan_digest'))[:12]}): "
                       "a human decides")
    return approval.record_audit(
        approval.open_store(ctx, bundle.config.approval, bundle.bucket), run_id=run_id, bundle_digest=bundle.digest,
        plan_digest=again["plan_digest"], approver="fleet-pipeline", approve=True,
        reason=f"empty plan {again['plan_digest'][:12]} recomputed: {again['summary']}", via="automatic")


def run_rollout(ctx: AwsContext, bundle: OpenBundle, *, run_id: str = "", only: list[str] | None = None,
                rerun_failed_only: bool = False, log: Callable[[str], None] = print, try_number: int = 0) -> dict:
    """The waves in order, through the ledger; a halted wave is put back on its last good bundle."""
    planned = waves(ctx, bundle, only)
    tolerances, concurrency = wave_settings(bundle.config, planned)
    ledger = Ledger(ctx)
    ledger.ensure_table()

    def on_wave(w: rollout.WaveResult) -> None:
        counts = {s: sum(r.status == s for r in w.results) for s in ("created", "updated", "unchanged", "skipped")}
        log(f"wave {w.index + 1}/{len(planned)}: {len(w.results)} stacks "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            + f", {w.failures} accounts failed (tolerance {w.tolerance})"
            + (f" -> HALT, {len(w.rolled_back)} put back on their last good bundle" if w.halted else ""))

    result = rollout.run_waves(ctx, planned, bundle.digest, max_concurrent=concurrency, failure_tolerance=tolerances,
                               on_wave=on_wave, ledger=ledger, run_id=run_id, rerun_failed_only=rerun_failed_only,
                               open_bundle=lambda digest: bundle.ref.sibling(digest).open(ctx), log=log,
                               try_number=try_number)
    return result.to_dict()
