"""Rollout: baseline targets per account, waves with a failure tolerance, parallel deployment.

The rules are the ones users of StackSets and CfCT ask for: a canary wave first, a bounded number of
accounts at once, and a wave whose failures exceed the tolerance stops the rollout before any later
wave is touched, and its accounts are put back on their last known good bundle (from the ledger).
Every account ends with exactly one result, so the report names all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fleet import stacks
from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.config import Wave
from fleet.deploy import baseline_targets, deploy_all, with_outputs
from fleet.ledger import DEPLOYING, Entry, Ledger, baseline_of_stack, entry_key
from fleet.org import LiveAccount, read_org
from fleet.params import ParameterError

# Opens another bundle of the same bucket by digest: how a rollback reaches the last good bundle.
BundleOpener = Callable[[str], OpenBundle]


class RolloutError(RuntimeError):
    pass


def plan_waves(accounts: Sequence, waves: Sequence[Wave]) -> list[list]:
    """Split ``accounts`` into waves. ``count`` takes N more; ``percent`` grows coverage to P% of all.

    Percentages are cumulative, as in StackSets' and most canary tools' vocabulary: waves
    [count 1, 25%, 100%] over 8 accounts give 1, 1 and 6 accounts.
    """
    return [list(accounts[start:end]) for _, start, end in _wave_bounds(len(accounts), waves)]


def planned_wave_configs(total: int, waves: Sequence[Wave]) -> list[Wave]:
    """The configured wave behind each wave ``plan_waves`` returns for ``total`` accounts.

    A configured wave that adds no account is dropped from the plan (25% of two accounts is the one
    a count wave already took), so planned and configured waves do not line up by index.
    """
    return [wave for wave, _, _ in _wave_bounds(total, waves)]


def _wave_bounds(total: int, waves: Sequence[Wave]) -> list[tuple[Wave, int, int]]:
    out, taken = [], 0
    for wave in waves:
        upto = taken + wave.count if wave.count is not None else math.ceil(total * wave.percent / 100)
        upto = min(max(upto, taken), total)
        if upto > taken:
            out.append((wave, taken, upto))
        taken = upto
    if taken < total:  # the config validator requires a last 100% wave; keep the promise regardless
        out.append((waves[-1] if waves else Wave(percent=100), taken, total))
    return out


@dataclass
class WaveResult:
    index: int
    results: list[stacks.DeployResult]
    tolerance: int
    rolled_back: list[stacks.DeployResult] = field(default_factory=list)

    @property
    def failed_accounts(self) -> list[str]:
        """Failures count per account, as StackSets' tolerance does: two regions failing is one account."""
        return sorted({r.account_name for r in self.results if r.status == "failed"})

    @property
    def failures(self) -> int:
        return len(self.failed_accounts)

    @property
    def halted(self) -> bool:
        return self.failures > self.tolerance


@dataclass
class RolloutResult:
    waves: list[WaveResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # account names of waves never touched

    @property
    def halted(self) -> bool:
        return any(w.halted for w in self.waves)

    def to_dict(self) -> dict:
        return {"halted": self.halted, "not_started": self.not_started,
                "waves": [{"wave": w.index + 1, "failures": w.failures, "failed_accounts": w.failed_accounts,
                           "tolerance": w.tolerance, "results": [r.to_dict() for r in w.results],
                           "rolled_back": [r.to_dict() for r in w.rolled_back]} for w in self.waves]}


def _skipped(t: stacks.StackTarget, why: str, outputs: dict[str, str] | None = None) -> stacks.DeployResult:
    return stacks.DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "skipped", error=None,
                               stack_status=why, outputs=dict(outputs or {}))


def _stack_outputs(stack: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs") or []}


def partition(ctx: AwsContext, targets: Sequence[stacks.StackTarget], digest: str,
              previous: dict[str, Entry], *, rerun_failed_only: bool = False, max_concurrent: int = 10,
              run_id: str = "") -> tuple[list[stacks.StackTarget], list[stacks.DeployResult]]:
    """Split targets into (to deploy, skipped). Skipped: the ledger says this digest is applied and the
    stack agrees (a complete state, running with the parameters this account resolves to now, its
    dependencies skipped too); with ``rerun_failed_only``, everything but failures and never-tried.
    An account an earlier try of this same run deployed is not "skipped": its result is that try's.
    Targets come in dependency order (as ``environment.targets`` gives them)."""
    todo: list[stacks.StackTarget] = []
    candidates: list[stacks.StackTarget] = []
    skipped: list[stacks.DeployResult] = []
    for t in targets:
        entry = previous.get(entry_key(t.account_id, t.region, t.stack_name))
        if rerun_failed_only and entry is not None and entry.ok:
            skipped.append(_skipped(t, f"{entry.status} in run {entry.run_id} (rerun failed only)", entry.outputs))
        elif entry is not None and entry.ok and entry.bundle_digest == digest and not t.problem:
            candidates.append(t)
        else:
            todo.append(t)
    if candidates:
        # The ledger is a record, not the truth: a stack changed or deleted since must be redeployed.
        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(candidates)))) as pool:
            states = list(pool.map(lambda t: stacks.describe_stack(ctx, t), candidates))
        redeployed = {(t.account_id, t.baseline) for t in todo}
        known: dict[tuple[str, str, str], dict[str, str]] = {}
        for t, stack in zip(candidates, states):
            entry = previous[entry_key(t.account_id, t.region, t.stack_name)]
            current = stack and stack["StackStatus"] in stacks.COMPLETE and _unchanged_inputs(
                t, stack, known, redeployed)
            if current and run_id and entry.run_id == run_id and entry.status in ("created", "updated"):
                skipped.append(stacks.DeployResult(
                    t.account_id, t.account_name, t.region, t.stack_name, entry.status,
                    outputs=_stack_outputs(stack), stack_status=stack["StackStatus"], seconds=entry.seconds,
                    try_number=entry.try_number or None))
            elif current:
                skipped.append(_skipped(t, stack["StackStatus"], _stack_outputs(stack)))
            else:
                todo.append(t)
                redeployed.add((t.account_id, t.baseline))
                continue
            known[(t.account_id, t.region, t.baseline)] = _stack_outputs(stack)
    return todo, skipped


def _unchanged_inputs(t: stacks.StackTarget, stack: dict, known: dict, redeployed: set) -> bool:
    """The stack already runs what this target would deploy: none of its dependencies in the account
    is being deployed again, and its parameters (outputs included) are the ones it runs with."""
    if any((t.account_id, d) in redeployed for d in t.depends_on):
        return False
    try:
        resolved = with_outputs(t, known)
    except ParameterError:
        return False  # the deployment reports why
    return stacks.stack_parameters_match(stack, resolved.parameters)


def run_waves(ctx: AwsContext, waves: Sequence[Sequence[stacks.StackTarget]], digest: str, *,
              max_concurrent: int | Sequence[int], failure_tolerance: int | Sequence[int],
              deploy: Callable = stacks.deploy, on_wave: Callable[[WaveResult], None] | None = None,
              ledger: Ledger | None = None, run_id: str = "", rerun_failed_only: bool = False,
              open_bundle: BundleOpener | None = None, log: Callable[[str], None] = print,
              try_number: int = 0) -> RolloutResult:
    """Waves in order. With a ledger: skip what is already applied, record every result, and when a
    wave halts (and ``open_bundle`` can reach earlier bundles), put its accounts back on their last
    known good bundle. With ``try_number`` (the task's try), every result and ledger entry names the
    try of this run that deployed it, across retries."""
    result = RolloutResult()
    tolerances = _per_wave(failure_tolerance, len(waves))
    concurrency = _per_wave(max_concurrent, len(waves))
    for i, wave in enumerate(waves):
        max_concurrent = concurrency[i]
        previous = ledger.get_many(entry_key(t.account_id, t.region, t.stack_name) for t in wave) if ledger else {}
        todo, skipped = partition(ctx, wave, digest, previous, rerun_failed_only=rerun_failed_only,
                                  max_concurrent=max_concurrent, run_id=run_id) if ledger else (list(wave), [])
        if ledger and try_number and todo:
            ledger.mark_deploying(todo, digest, run_id, try_number, previous)
        baseline_of = {(t.account_id, t.region, t.stack_name): t.baseline for t in wave}
        known = {(r.account_id, r.region, baseline_of[(r.account_id, r.region, r.stack_name)]): r.outputs
                 for r in skipped}
        deployed = deploy_all(ctx, todo, digest, max_concurrent=max_concurrent, deploy=deploy, known=known)
        if try_number:
            deployed = [credit_earlier_try(ctx, r, previous, digest, run_id, try_number) for r in deployed]
        if ledger:
            ledger.record([(r, digest) for r in deployed], run_id, previous, try_number=try_number, targets=wave)
        order = {(t.account_id, t.region, t.stack_name): n for n, t in enumerate(wave)}
        results = sorted(deployed + skipped, key=lambda r: order[(r.account_id, r.region, r.stack_name)])
        wave_result = WaveResult(i, results, tolerances[i])
        if wave_result.halted and open_bundle is not None:
            back = roll_back_to_last_good(ctx, list(wave), previous, failed_digest=digest, open_bundle=open_bundle,
                                          max_concurrent=max(concurrency), log=log)
            wave_result.rolled_back = [r for r, _ in back]
            if ledger and back:
                ledger.record(back, run_id, previous)
        result.waves.append(wave_result)
        if on_wave:
            on_wave(wave_result)
        if wave_result.halted:
            result.not_started = list(dict.fromkeys(t.account_name for later in waves[i + 1:] for t in later))
            break
    return result


def credit_earlier_try(ctx: AwsContext, r: stacks.DeployResult, previous: dict[str, Entry], digest: str,
                       run_id: str, try_number: int) -> stacks.DeployResult:
    """A result of this try as the account's truth: "unchanged" where an earlier, lost try of this run
    was deploying this digest and the stack's last operation completed after that try began, is that
    try's deployment (created or updated, per the stack's events)."""
    if r.try_number is None:
        r.try_number = try_number
    entry = previous.get(entry_key(r.account_id, r.region, r.stack_name))
    if r.status != "unchanged" or entry is None or entry.status != DEPLOYING or entry.run_id != run_id \
            or entry.bundle_digest != digest or not entry.try_number or entry.try_number >= try_number:
        return r
    done = _last_stack_operation(ctx, r)
    if done is None:
        return r
    kind, when = done
    if when >= datetime.fromisoformat(entry.updated_at):
        r.status, r.try_number = ("created" if kind == "CREATE" else "updated"), entry.try_number
    return r


def _last_stack_operation(ctx: AwsContext, r: stacks.DeployResult) -> tuple[str, datetime] | None:
    """("CREATE" | "UPDATE", when) of the stack's latest completed operation, from its events."""
    cfn = ctx.client("cloudformation", r.account_id, r.region)
    try:
        for page in cfn.get_paginator("describe_stack_events").paginate(StackName=r.stack_name):
            for e in page["StackEvents"]:  # newest first
                if e.get("ResourceType") == "AWS::CloudFormation::Stack" and e.get("ResourceStatus") in (
                        "CREATE_COMPLETE", "UPDATE_COMPLETE"):
                    when = e["Timestamp"]
                    return e["ResourceStatus"].split("_")[0], when if when.tzinfo else when.replace(
                        tzinfo=timezone.utc)
    except Exception:  # noqa: BLE001 - without events the result stays as this try saw it
        return None
    return None


def _per_wave(value: int | Sequence[int], n: int) -> list[int]:
    return [value] * n if isinstance(value, int) else list(value)


def roll_back_to_last_good(ctx: AwsContext, targets: Sequence[stacks.StackTarget], previous: dict[str, Entry], *,
                           failed_digest: str, open_bundle: BundleOpener, max_concurrent: int = 10,
                           log: Callable[[str], None] = print) -> list[tuple[stacks.DeployResult, str]]:
    """Put each target back on the last bundle that worked there before ``failed_digest`` (per the
    ledger entries in ``previous``); a target with no earlier good bundle is left as it is.

    Returns (result, digest deployed) pairs, results marked ``rolled-back`` unless they failed.
    """
    by_digest: dict[str, list[stacks.StackTarget]] = {}
    for t in targets:
        entry = previous.get(entry_key(t.account_id, t.region, t.stack_name))
        good = entry.good_before(failed_digest) if entry else None
        if not good:
            log(f"rollback: {t.account_name}/{t.region} has no earlier good bundle; left as it is")
            continue
        by_digest.setdefault(good, []).append(t)
    out = []
    # Parameters are resolved per account again (OU, tags): targets named only by id get the live account.
    live = {a.id: a for a in read_org(ctx).accounts} if any(
        t.account is None for ts in by_digest.values() for t in ts) else {}
    for digest, ts in by_digest.items():
        old = open_bundle(digest)
        old_targets = []
        for t in ts:
            baseline = next((b for b in old.config.baselines if b.stack_name == t.stack_name), None)
            if baseline is None:  # the stack was not part of that bundle's baselines
                continue
            account = t.account or live.get(t.account_id) or LiveAccount(t.account_id, t.account_name, "", "ACTIVE", ())
            old_targets += [o for o in baseline_targets(old.config, baseline, [account], old.root)
                            if o.region == t.region]
        # Dependencies that are not put back (no earlier good bundle) keep their outputs: read them there.
        known = {(e.account_id, e.region, baseline_of_stack(e.stack_name)): e.outputs for e in previous.values()}
        for r in deploy_all(ctx, old_targets, digest, max_concurrent=max_concurrent, known=known):
            if r.status != "failed":
                r.status = "rolled-back"
            log(f"rollback: {r.account_name}/{r.region} -> bundle {digest[:12]}: {r.status}")
            out.append((r, digest))
    return out


def put_back(ctx: AwsContext, targets: Sequence[stacks.StackTarget], *, failed_digest: str,
             open_bundle: BundleOpener, ledger: Ledger, run_id: str = "", max_concurrent: int = 10,
             log: Callable[[str], None] = print) -> list[stacks.DeployResult]:
    """``roll_back_to_last_good`` outside a rollout (the canaries after a failed bake), recorded in the ledger."""
    ledger.ensure_table()
    previous = ledger.get_many(entry_key(t.account_id, t.region, t.stack_name) for t in targets)
    back = roll_back_to_last_good(ctx, targets, previous, failed_digest=failed_digest, open_bundle=open_bundle,
                                  max_concurrent=max_concurrent, log=log)
    if back:
        ledger.record(back, run_id, previous)
    return [r for r, _ in back]
