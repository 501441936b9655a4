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


class NoTargets(ValueError):
    """The prod targets resolve to no account, or the targets Param names an account they do not hold."""


def waves(ctx: AwsContext, bundle: OpenBundle, only: list[str] | None = None) -> list[list[stacks.StackTarget]]:
    """The prod targets in rollout order, split into the configured waves (by account)."""
    return _in_waves(bundle, env_targets(ctx, bundle, "prod", only=only))


def _in_waves(bundle: OpenBundle, targets: list[stacks.StackTarget]) -> list[list[stacks.StackTarget]]:
    by_account: dict[str, list[stacks.StackTarget]] = {}
    for t in targets:
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
    check_targets(ctx, bundle, only, targets)

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


def check_targets(ctx: AwsContext, bundle: OpenBundle, only: list[str] | None,
                  targets: list[stacks.StackTarget]) -> None:
    """A plan with no target is a mistake (a typo in targets, an empty OU), not an empty change to
    approve automatically: refuse it naming what was asked for, and any name of the targets Param
    that is not a prod target."""
    names = {t.account_name for t in targets} | {t.account_id for t in targets}
    unknown = [n for n in only or () if n not in names]
    if unknown and targets:
        raise NoTargets(f"the targets Param names {', '.join(map(repr, unknown))}, not among the prod targets "
                        f"({', '.join(sorted({t.account_name for t in targets}))}); nothing planned")
    if not targets:
        t = bundle.config.environments.prod_targets
        asked = (f"environments.prod.targets: ous {list(t.ous)}, accounts {list(t.accounts)}, tags {dict(t.tags)}, "
                 f"exclude_accounts {list(t.exclude_accounts)}")
        limit = f"; the targets Param limits them to {list(only)}" if only else ""
        raise NoTargets(f"the prod targets resolve to no ACTIVE account ({asked}{limit}); nothing planned, "
                        "nothing approved")


def approved_plan(ctx: AwsContext, bundle: OpenBundle, run_id: str, plan_digest: str) -> dict[tuple, dict]:
    """The plan the approval names, read back from the artifacts bucket and checked against its digest."""
    key = f"plans/{approval.safe_key(run_id or bundle.digest)}/plan.json"
    try:
        doc = json.loads(ctx.client("s3").get_object(Bucket=bundle.bucket, Key=key)["Body"].read())
    except Exception as exc:  # noqa: BLE001 - no plan, no deployment
        raise plan_mod.PlanMismatch(f"the approved plan s3://{bundle.bucket}/{key} cannot be read ({exc})") from None
    return plan_mod.verify(doc, plan_digest, bundle.digest)


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
                rerun_failed_only: bool = False, log: Callable[[str], None] = print, try_number: int = 0,
                plan_digest: str | None = None) -> dict:
    """The waves in order, through the ledger; a halted wave is put back on its last good bundle.

    With ``plan_digest`` (the approved plan's), the approved plan binds the rollout: only its targets
    are deployed (an account that appeared since is reported "not in the approved plan"), and a
    change set that would do anything else than the planned one is not executed."""
    bound = approved_plan(ctx, bundle, run_id, plan_digest) if plan_digest else None
    everything = env_targets(ctx, bundle, "prod", only=only)
    planned = _in_waves(bundle, [t for t in everything if bound is None or plan_mod.target_key(t) in bound])
    not_in_plan = [] if bound is None else list(dict.fromkeys(
        t.account_name for t in everything if plan_mod.target_key(t) not in bound))
    for name in not_in_plan:
        log(f"{name}: {plan_mod.NOT_IN_PLAN}")
    deploy = stacks.deploy if bound is None else (
        lambda c, t, d, **kw: stacks.deploy(c, t, d, differs=lambda change: plan_mod.difference(
            bound.get(plan_mod.target_key(t)), change), **kw))
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
                               try_number=try_number, deploy=deploy)
    return result.to_dict() | {"not_in_plan": not_in_plan}
