"""Safe removal: stacks the pipeline deployed that the config no longer wants where they are.

A baseline removed from fleet.yaml, or an account that left a baseline's targets (moved to another
OU, lost a tag, excluded), leaves stacks the ledger still lists. They are found from the ledger,
not the config (which may no longer name the baseline), shown in the prod plan, and acted on only
by the rollout of an approved plan, after its waves succeeded:

- ``on_removal: delete`` (default): DeleteStack, dependants before what they depend on in each
  account; a dependant that cannot be deleted keeps its dependencies.
- ``on_removal: retain``: the stack and its resources are left exactly as they are (no API call),
  and the ledger marks the entry ``retained``: the pipeline stops managing it. This is AWS's own
  retain semantics (StackSets' DeleteStackInstances with RetainStacks leaves the stack, untouched);
  removing the stack's ``fleet:managed-by`` tag would itself be a stack update touching every
  resource, so the tag stays as a record of where the stack came from.

The rule that decides: the stack's own baseline, as the current config says, or as the ledger
remembers it when the config no longer has it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from fleet import plan as plan_mod
from fleet import stacks
from fleet.aws import AwsContext, error_code
from fleet.config import FleetConfig
from fleet.deploy import not_deployed
from fleet.ledger import Entry, Ledger, baseline_of_stack, entry_key
from fleet.org import OrgView


def managed_entries(ctx: AwsContext) -> list[Entry]:
    """Every ledger entry of a baseline stack the pipeline still manages (none before the first rollout)."""
    try:
        entries = Ledger(ctx).scan()
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return []
        raise
    out = []
    for e in entries:
        if e.managed and (e.baseline or baseline_of_stack(e.stack_name)):
            e.baseline = e.baseline or baseline_of_stack(e.stack_name)
            out.append(e)
    return out


def find(fleet: FleetConfig, org: OrgView, entries: Iterable[Entry], wanted: set[tuple[str, str, str]], *,
         only: Sequence[str] | None = None) -> list[Entry]:
    """The entries no environment wants any more, in deletion order; ``wanted`` holds (account id,
    region, stack name) of every beta, gamma and prod target. Accounts no longer ACTIVE in the
    organization are left out: their stacks cannot be reached (and go with the account)."""
    active = {a.id: a for a in org.accounts if a.status == "ACTIVE"}
    out = [e for e in entries if (e.account_id, e.region, e.stack_name) not in wanted and e.account_id in active
           and (not only or active[e.account_id].name in only or e.account_id in only)]
    depth = _depths(fleet, out)
    return sorted(out, key=lambda e: (-depth.get(e.baseline, 0), e.account_id, e.region, e.stack_name))


def settings(fleet: FleetConfig, entry: Entry) -> tuple[str, tuple[str, ...]]:
    """(on_removal, depends_on) of the entry's baseline: the config's when it still has the baseline."""
    try:
        b = fleet.baseline(entry.baseline)
        return b.on_removal, b.depends_on
    except KeyError:
        return entry.on_removal or "delete", entry.depends_on


def _depths(fleet: FleetConfig, entries: Sequence[Entry]) -> dict[str, int]:
    """Baseline -> how many baselines stand below it (0: depends on none): deletion goes deepest first."""
    deps = {b.name: b.depends_on for b in fleet.baselines}
    for e in entries:
        deps.setdefault(e.baseline, settings(fleet, e)[1])
    depth: dict[str, int] = {}

    def of(name: str, seen: tuple[str, ...] = ()) -> int:
        if name not in depth:
            if name in seen:  # a cycle only the ledger could hold: stop counting
                return 0
            depth[name] = 1 + max((of(d, (*seen, name)) for d in deps.get(name, ())), default=-1)
        return depth[name]

    for name in deps:
        of(name)
    return depth


def plan_rows(ctx: AwsContext, fleet: FleetConfig, org: OrgView, removals: Sequence[Entry], *,
              max_concurrent: int = 20) -> list[dict]:
    """One plan row per removal: what would be deleted (the stack's resources) or retained, and why."""
    names = {a.id: a.name for a in org.accounts}

    def row(e: Entry) -> dict:
        action, _ = settings(fleet, e)
        why = (f"baseline {e.baseline} is no longer in the config" if e.baseline not in {b.name for b in fleet.baselines}
               else f"{names.get(e.account_id, e.account_name)} is no longer a target of {e.baseline}")
        resources = _resources(ctx, e) if action == "delete" else []
        return plan_mod.removal(e, names.get(e.account_id, e.account_name), action, why, resources)

    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(removals) or 1))) as pool:
        return list(pool.map(row, removals))


def _resources(ctx: AwsContext, e: Entry) -> list[dict]:
    cfn = ctx.client("cloudformation", e.account_id, e.region)
    try:
        pages = cfn.get_paginator("list_stack_resources").paginate(StackName=e.stack_name)
        return [{"logical_id": r["LogicalResourceId"], "type": r["ResourceType"]}
                for page in pages for r in page["StackResourceSummaries"] if r.get("ResourceStatus") != "DELETE_COMPLETE"]
    except Exception as exc:
        if error_code(exc) == "ValidationError":  # the stack is gone already: the entry is cleaned up
            return []
        raise


def execute(ctx: AwsContext, fleet: FleetConfig, removals: Sequence[Entry], ledger: Ledger, run_id: str, *,
            max_concurrent: int = 10, log: Callable[[str], None] = print) -> list[stacks.DeployResult]:
    """Delete or retain each removal, level by level (deepest dependants first), recorded in the
    ledger. A stack whose dependant in the same account failed to delete is not deleted."""
    depth = _depths(fleet, removals)
    failed: set[tuple[str, str]] = set()  # (account id, baseline) that could not be deleted
    out: list[stacks.DeployResult] = []
    for level in sorted({depth.get(e.baseline, 0) for e in removals}, reverse=True):
        batch = [e for e in removals if depth.get(e.baseline, 0) == level]

        def act(e: Entry) -> stacks.DeployResult:
            target = stacks.StackTarget(e.account_id, e.account_name, e.region, e.stack_name, "", baseline=e.baseline)
            action, _ = settings(fleet, e)
            if action == "retain":
                return stacks.DeployResult(e.account_id, e.account_name, e.region, e.stack_name, "retained",
                                           outputs=e.outputs, stack_status="left as it is")
            blockers = sorted({b for a, b in failed if a == e.account_id and e.baseline in _deps_of(fleet, b, removals)})
            if blockers:
                return not_deployed(target, "DependencyFailed", f"{', '.join(blockers)} (depends on "
                                                                f"{e.baseline}) could not be deleted; kept")
            return stacks.delete(ctx, target)

        with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(batch)))) as pool:
            results = list(pool.map(act, batch))
        for e, r in zip(batch, results):
            log(f"removal: {e.account_name}/{e.region} {e.stack_name}: {r.status}" + (f" ({r.error})" if r.error else ""))
            if r.status == "failed":
                failed.add((e.account_id, e.baseline))
        previous = {entry_key(e.account_id, e.region, e.stack_name): e for e in batch}
        ledger.record([(r, e.bundle_digest) for e, r in zip(batch, results)], run_id, previous)
        out += results
    return out


def _deps_of(fleet: FleetConfig, baseline: str, removals: Sequence[Entry]) -> tuple[str, ...]:
    entry = next((e for e in removals if e.baseline == baseline), None)
    return settings(fleet, entry)[1] if entry else ()
