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


class PlanError(RuntimeError):
    """A prod plan that must not be approved or deployed (targets that resolve to nothing)."""


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
    if only:
        unknown = sorted(set(only) - {t.account_name for t in targets} - {t.account_id for t in targets})
        if unknown:
            raise PlanError(f"targets {', '.join(map(repr, unknown))} match no prod account of the organization; "
                            "nothing is planned (check the targets Param)")
    if not targets:
        # An empty plan would be approved automatically: a typo must fail the run, not pass it green.
        raise PlanError("the prod targets (environments.prod.targets) resolve to no account of the organization; "
                        "nothing is planned")

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
    """The bundle's ``approval`` section as JSON-ready values (the approval store, topic, UI path)."""
    a = bundle.config.approval
    return {"store": a.store, "table": a.table, "topic": a.topic, "ui": a.ui, "approvers": list(a.approvers),
            "timeout_hours": a.timeout_hours}


def record_automatic_approval(ctx: AwsContext, bundle: OpenBundle, run_id: str, planned: dict, key: bytes) -> dict:
    """The audit record for a plan with no change: signed by the pipeline, bound to both digests."""
    return approval.record_decision(
        approval.open_store(ctx, bundle.config.approval, bundle.bucket), run_id=run_id, bundle_digest=bundle.digest,
        plan_digest=planned["plan_digest"], approver="fleet-pipeline", approve=True,
        reason=f"empty plan {planned['plan_digest'][:12]}: {planned['summary']}", key=key, via="automatic")


def run_rollout(ctx: AwsContext, bundle: OpenBundle, *, run_id: str = "", only: list[str] | None = None,
                rerun_failed_only: bool = False, log: Callable[[str], None] = print,
                approved_plan: str | None = None, try_number: int = 0) -> dict:
    """The waves in order, through the ledger; a halted wave is put back on its last good bundle.

    With ``approved_plan`` (the plan digest the approval decision is bound to), the rollout is
    exactly that plan: a target that is not in it (an account moved into Prod after approval) is
    reported "not in the approved plan" and left for the next run, and a change set that no
    longer matches the planned one is not executed (that target fails with why).
    """
    planned = waves(ctx, bundle, only)
    deploy, not_in_plan = stacks.deploy, []
    if approved_plan is not None:
        rows = approved_rows(ctx, bundle, run_id, approved_plan)
        not_in_plan = sorted({t.account_name for w in planned for t in w if _slot(t) not in rows})
        for name in not_in_plan:
            log(f"{name}: not in the approved plan {approved_plan[:12]}; left for the next run")
        planned = [w for w in ([t for t in wave if _slot(t) in rows] for wave in planned) if w]
        deploy = lambda c, t, digest: deploy_as_planned(c, t, digest, rows[_slot(t)])  # noqa: E731
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
                               deploy=deploy, try_number=try_number)
    return result.to_dict() | {"not_in_plan": not_in_plan}


def _slot(t: stacks.StackTarget) -> tuple[str, str, str]:
    return t.account_id, t.region, t.stack_name


def approved_rows(ctx: AwsContext, bundle: OpenBundle, run_id: str, plan_digest: str) -> dict[tuple, dict]:
    """The approved plan's rows by (account, region, stack), from the plan artifact of this run,
    which must be the very plan the decision names."""
    key = f"plans/{approval.safe_key(run_id or bundle.digest)}/plan.json"
    doc = json.loads(ctx.client("s3").get_object(Bucket=bundle.bucket, Key=key)["Body"].read())
    body = {"bundle_digest": doc.get("bundle_digest"), "targets": [
        {k: r.get(k) for k in ("account_id", "region", "stack_name", "status", "resources")}
        for r in doc.get("accounts", [])]}
    # Recomputed, not read: a plan artifact replaced in the bucket no longer matches the approval.
    if (plan_mod.digest_of(body) != plan_digest or doc.get("plan_digest") != plan_digest
            or doc.get("bundle_digest") != bundle.digest):
        raise PlanError(f"s3://{bundle.bucket}/{key} is not the approved plan {plan_digest[:12]} of bundle "
                        f"{bundle.ref.short}; nothing is deployed")
    return {(r["account_id"], r["region"], r["stack_name"]): r for r in doc["accounts"]}


def deploy_as_planned(ctx: AwsContext, t: stacks.StackTarget, digest: str, row: dict) -> stacks.DeployResult:
    """Deploy ``t`` only if its change set is still the one in the approved plan."""
    try:
        now = stacks.plan(ctx, t, digest)
    except Exception as exc:  # noqa: BLE001 (as stacks.deploy: an account's failure is a result)
        return stacks.DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "failed",
                                   error=f"{type(exc).__name__}: {exc}")
    same = now.status == row.get("status") and _canonical(now.changes) == _canonical(row.get("resources") or [])
    if not same:
        return stacks.DeployResult(
            t.account_id, t.account_name, t.region, t.stack_name, "failed", changes=len(now.changes),
            error=f"change set {now.change_set_name} ({now.status}, {len(now.changes)} changes) differs from the "
                  f"approved plan ({row.get('status')}, {len(row.get('resources') or [])} changes): not executed")
    return stacks.deploy(ctx, t, digest)


def _canonical(changes: list) -> str:
    return json.dumps(changes, sort_keys=True, default=str)
