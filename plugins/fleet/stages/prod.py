"""Prod: the fleet-wide plan, the automatic approval of an empty plan, and the rollout in waves."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from fleet import approval, removal, rollout, stacks
from fleet import plan as plan_mod
from fleet.aws import AwsContext, error_code
from fleet.bundle import OpenBundle
from fleet.config import FleetConfig
from fleet.deploy import account_problems, with_outputs
from fleet.ledger import Entry, Ledger
from fleet.org import OrgView, TargetError, read_org
from fleet.params import ParameterError
from fleet.stages.environment import needs_tags
from fleet.stages.environment import targets as env_targets

PLAN_ROW_KEYS = ("account_name", "region", "baseline", "action", "status", "reason", "adds", "modifies",
                 "replacements", "deletions", "iam_changes")


class NoTargets(ValueError):
    """The prod targets resolve to no account, or the targets Param names an account they do not hold."""


def waves(ctx: AwsContext, bundle: OpenBundle, only: list[str] | None = None,
          org: OrgView | None = None) -> list[list[stacks.StackTarget]]:
    """The prod targets in rollout order, split into the configured waves (by account, in name order;
    within an account its baselines in dependency order)."""
    return _in_waves(bundle, env_targets(ctx, bundle, "prod", only=only, org=org))


def _in_waves(bundle: OpenBundle, targets: list[stacks.StackTarget]) -> list[list[stacks.StackTarget]]:
    by_account: dict[str, list[stacks.StackTarget]] = {}
    for t in targets:
        by_account.setdefault(t.account_id, []).append(t)
    ordered = sorted(by_account, key=lambda acct: by_account[acct][0].account_name)
    account_waves = rollout.plan_waves(ordered, bundle.config.environments.waves)
    return [[t for acct in wave for t in by_account[acct]] for wave in account_waves]


def removals(ctx: AwsContext, bundle: OpenBundle, org: OrgView, only: list[str] | None = None) -> list[Entry]:
    """Ledger entries of stacks no environment wants any more (every beta, gamma and prod target
    counts as wanted), in deletion order."""
    wanted: set[tuple[str, str, str]] = set()
    for env in ("beta", "gamma", "prod"):
        try:
            wanted |= {(t.account_id, t.region, t.stack_name) for t in env_targets(ctx, bundle, env, org=org)}
        except TargetError:
            if env == "prod":  # never guess: without the prod targets every prod stack would look removed
                raise
            continue  # a beta or gamma account not in the organization holds no stack to keep
    return removal.find(bundle.config, org, removal.managed_entries(ctx), wanted, only=only)


def plan_targets(ctx: AwsContext, targets: list[stacks.StackTarget], digest: str, *,
                 max_concurrent: int = 20) -> list[dict]:
    """The change set of every target, dependencies first: a dependant's parameters read the outputs
    its dependencies' stacks have now. Its change set waits (``pending``) when a dependency is not
    deployed yet in that account; it fails (with the reason) when a value cannot be resolved."""
    blocked = account_problems(targets)
    rows: dict[int, dict] = {}
    outputs: dict[tuple[str, str, str], dict[str, str]] = {}
    kinds: dict[tuple[str, str], set[tuple[str, str]]] = {}  # (account id, baseline) -> {(status, type)}

    def row(i: int) -> dict:
        t = targets[i]
        try:
            if t.account_id in blocked:
                return _failed_row(t, f"ParameterError: {blocked[t.account_id]} (nothing is deployed in this account)")
            failed = [d for d in t.depends_on if any(s == "failed" for s, _ in kinds.get((t.account_id, d), ()))]
            if failed:
                return _failed_row(t, f"DependencyFailed: {', '.join(failed)} cannot be deployed in this account")
            not_yet = [d for d in t.depends_on if kinds.get((t.account_id, d), set()) & NOT_DEPLOYED_YET]
            if not_yet and t.waiting:
                exists = stacks.describe_stack(ctx, t) is not None
                return plan_mod.pending(t, exists, f"parameters {', '.join(sorted(t.waiting))} are known once "
                                                   f"{', '.join(not_yet)} is deployed in this account")
            return plan_mod.account_changes(stacks.plan(ctx, with_outputs(t, outputs), digest))
        except ParameterError as exc:
            return _failed_row(t, f"ParameterError: {t.baseline}: {exc}")
        except Exception as exc:  # one account that cannot be planned must not hide the others
            return _failed_row(t, f"{type(exc).__name__}: {exc}")

    dependencies = {d for t in targets for d in t.depends_on}
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets) or 1))) as pool:
        for level in _levels(targets):
            for i, r in zip(level, pool.map(row, level)):
                rows[i] = r
                kinds.setdefault((targets[i].account_id, targets[i].baseline), set()).add((r["status"], r["type"]))
            # The outputs dependants read: those of the stacks as they are now.
            needed = [i for i in level if rows[i]["status"] in ("ready", "no-changes")
                      and rows[i]["type"] == "UPDATE" and targets[i].baseline in dependencies]
            for i, stack in zip(needed, pool.map(lambda i: stacks.describe_stack(ctx, targets[i]), needed)):
                if stack is not None:
                    t = targets[i]
                    outputs[(t.account_id, t.region, t.baseline)] = {
                        o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}
    return [rows[i] for i in range(len(targets))]


# A dependency whose stack does not exist yet: its outputs are known only after the rollout deploys it.
NOT_DEPLOYED_YET = {("ready", "CREATE"), ("pending", "CREATE")}


def _failed_row(t: stacks.StackTarget, reason: str) -> dict:
    return plan_mod.account_changes(stacks.ChangeSetPlan(t, "", "", "failed", reason=reason))


def _levels(targets: list[stacks.StackTarget]) -> list[list[int]]:
    """Target indexes grouped so every target comes after the baselines it depends on."""
    depth: dict[str, int] = {}
    deps = {t.baseline: t.depends_on for t in targets}

    def of(name: str) -> int:
        if name not in depth:
            depth[name] = 1 + max((of(d) for d in deps.get(name, ()) if d in deps), default=-1)
        return depth[name]

    by_level: dict[int, list[int]] = {}
    for i, t in enumerate(targets):
        by_level.setdefault(of(t.baseline), []).append(i)
    return [by_level[k] for k in sorted(by_level)]


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
    org = read_org(ctx, with_tags=needs_tags(bundle.config))
    planned = waves(ctx, bundle, only, org=org)
    targets = [t for w in planned for t in w]
    check_targets(ctx, bundle, only, targets)
    rows = plan_targets(ctx, targets, bundle.digest, max_concurrent=max_concurrent)
    gone = removal.plan_rows(ctx, bundle.config, org, removals(ctx, bundle, org, only), max_concurrent=max_concurrent)
    doc = plan_mod.aggregate(bundle.digest, rows, [list(dict.fromkeys(t.account_name for t in w)) for w in planned],
                             gone)
    key = f"plans/{approval.safe_key(run_id or bundle.digest)}/plan.json"
    ctx.client("s3").put_object(Bucket=bundle.bucket, Key=key, Body=json.dumps(doc, indent=1).encode(),
                                ContentType="application/json")
    doc["location"] = f"s3://{bundle.bucket}/{key}"
    doc["auto_approve"] = doc["empty"] and bundle.config.approval.auto_approve_empty_plan
    return {k: v for k, v in doc.items() if k != "accounts"} | {
        "accounts": [{k: r.get(k) for k in PLAN_ROW_KEYS} for r in doc["accounts"]]}


def check_targets(ctx: AwsContext, bundle: OpenBundle, only: list[str] | None,
                  targets: list[stacks.StackTarget]) -> None:
    """A plan with no target is a mistake (a typo in targets, an empty OU), not an empty change to
    approve automatically: refuse it naming what was asked for, and any name of the targets Param
    that is not a prod target. A config with no baseline left has no stack targets by design: its
    plan is the removals."""
    if not bundle.config.baselines:
        return
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
    out = result.to_dict() | {"not_in_plan": not_in_plan}
    # Removals only after every wave passed: a halted rollout leaves them for the next approved plan.
    out["removals"] = [] if result.halted else [r.to_dict() for r in remove_approved(
        ctx, bundle, run_id, only=only, ledger=ledger, log=log,
        max_concurrent=max(concurrency, default=bundle.config.environments.max_concurrent))]
    return out


def approved_removals(ctx: AwsContext, bundle: OpenBundle, run_id: str) -> set[tuple[str, str, str]]:
    """(account id, region, stack name) of every removal in this run's plan (the plan the approval
    is bound to); none when the run has no plan."""
    key = f"plans/{approval.safe_key(run_id or bundle.digest)}/plan.json"
    try:
        doc = json.loads(ctx.client("s3").get_object(Bucket=bundle.bucket, Key=key)["Body"].read())
    except Exception as exc:
        if error_code(exc) in {"NoSuchKey", "404"}:
            return set()
        raise
    return {(r["account_id"], r["region"], r["stack_name"]) for r in doc.get("accounts", [])
            if r.get("action") in ("delete", "retain")}


def remove_approved(ctx: AwsContext, bundle: OpenBundle, run_id: str, *, only: list[str] | None = None,
                    ledger: Ledger, max_concurrent: int = 10, log: Callable[[str], None] = print) -> list:
    """The plan's removals that are still removals now (an account back in its targets since the plan
    keeps its stacks), in deletion order; nothing the plan did not list is ever deleted."""
    approved = approved_removals(ctx, bundle, run_id)
    if not approved:
        return []
    org = read_org(ctx, with_tags=needs_tags(bundle.config))
    todo = [e for e in removals(ctx, bundle, org, only) if (e.account_id, e.region, e.stack_name) in approved]
    return removal.execute(ctx, bundle.config, todo, ledger, run_id, max_concurrent=max_concurrent, log=log)
