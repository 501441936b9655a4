"""Beta and Gamma: deploy the bundle's baselines to the environment's accounts, wait for the stacks,
test them, and (after a failed bake) put the canaries back on their last good bundle."""

from __future__ import annotations

from collections.abc import Callable

from fleet import params, rollout, stacks, verify
from fleet.aws import AwsContext
from fleet.bundle import Bundle, OpenBundle
from fleet.deploy import baseline_targets, deploy_all
from fleet.ledger import Ledger, entry_key
from fleet.config import FleetConfig
from fleet.org import OrgView, read_org


def targets(ctx: AwsContext, bundle: OpenBundle, environment: str, *, only: list[str] | None = None,
            org: OrgView | None = None) -> list[stacks.StackTarget]:
    """Stack targets of the baselines for an environment's accounts, resolved from the live org, in
    dependency order. Beta and gamma get every baseline (they test what prod gets); in prod each
    baseline goes to its own targets (every prod target when it names none)."""
    fleet = bundle.config
    env = fleet.environments
    org = org or read_org(ctx, with_tags=needs_tags(fleet))
    if environment in ("beta", "gamma"):
        names = env.beta_accounts if environment == "beta" else env.gamma_accounts
        accounts = org.resolve_names(fleet, names)
        per_baseline = {b.name: accounts for b in fleet.baselines}
    else:
        per_baseline = {b.name: org.resolve_targets(fleet, b.targets or env.prod_targets) for b in fleet.baselines}
    out = []
    for b in fleet.deployment_order():
        chosen = [a for a in per_baseline[b.name] if not only or a.name in only or a.id in only]
        out += baseline_targets(fleet, b, chosen, bundle.root)
    return out


def needs_tags(fleet: FleetConfig) -> bool:
    """Whether targets or parameters read account tags (one ListTagsForResource per account)."""
    if fleet.environments.prod_targets.tags or any(b.targets and b.targets.tags for b in fleet.baselines):
        return True
    values = [v for b in fleet.baselines for v in [*b.parameters.values(),
                                                    *(v for o in b.overrides for v in o.parameters.values())]]
    return any(r[:2] == ("account", "tags") for v in values for r in params.references(v))


def start_deployments(ctx: AwsContext, bundle: OpenBundle, environment: str, *, max_concurrent: int = 10
                      ) -> list[dict]:
    """Plan and execute the change sets without waiting; a sensor waits for the stacks to settle."""
    planned = targets(ctx, bundle, environment)
    # A stack others depend on is waited for: its outputs are their parameters.
    needed = {(t.account_id, d) for t in planned for d in t.depends_on}
    results = deploy_all(ctx, planned, bundle.digest, max_concurrent=max_concurrent,
                         deploy=lambda c, t, d: stacks.deploy(c, t, d, wait=(t.account_id, t.baseline) in needed))
    return [r.to_dict() for r in results]


def settled(ctx: AwsContext, deployments: list[dict]) -> bool:
    """True when no stack of ``deployments`` is still in an *_IN_PROGRESS state."""
    for d in deployments:
        stack = stacks.describe_stack(ctx, target_of(d))
        if stack and stack["StackStatus"].endswith("_IN_PROGRESS"):
            return False
    return True


def target_of(deployment: dict) -> stacks.StackTarget:
    """The stack a deployment result names (enough to describe it; no template)."""
    d = deployment
    return stacks.StackTarget(d["account_id"], d["account_name"], d["region"], d["stack_name"], "")


def integration_tests(ctx: AwsContext, deployments: list[dict], *, health: bool = False,
                      bundle: Bundle | None = None, run_id: str = "") -> dict:
    """The settled deployments' final state (recorded in the ledger against ``bundle``) and their checks."""
    results = [stacks.refresh(ctx, stacks.DeployResult(**d)) for d in deployments]
    if bundle is not None:
        record_results(ctx, [(r, bundle.digest) for r in results], run_id)
    checks = []
    for r in results:
        if r.status != "failed":
            checks += verify.verify_stack(ctx, r)
        if health:
            checks += verify.health(ctx, r)
    return {"deployments": [r.to_dict() for r in results], "checks": [c.to_dict() for c in checks],
            "failed_deployments": [f"{r.account_name}/{r.region}: {r.error}" for r in results if r.status == "failed"],
            "failed_checks": [f"{c.account_name}/{c.region} {c.name}: {c.detail}" for c in checks if not c.ok]}


def record_results(ctx: AwsContext, results: list[tuple[stacks.DeployResult, str]], run_id: str) -> None:
    ledger = Ledger(ctx)
    ledger.ensure_table()
    previous = ledger.get_many(entry_key(r.account_id, r.region, r.stack_name) for r, _ in results)
    ledger.record(results, run_id, previous)


def roll_back(ctx: AwsContext, bundle: Bundle, deployments: list[dict], run_id: str = "",
              log: Callable[[str], None] = print) -> list[dict]:
    """Put an environment's accounts (the canaries after a failed bake) back on their last good bundle."""
    back = rollout.put_back(ctx, [target_of(d) for d in deployments], failed_digest=bundle.digest,
                            open_bundle=lambda digest: bundle.sibling(digest).open(ctx), ledger=Ledger(ctx),
                            run_id=run_id, log=log)
    return [r.to_dict() for r in back]
