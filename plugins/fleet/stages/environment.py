"""Beta and Gamma: deploy the bundle's baselines to the environment's accounts, wait for the stacks,
test them, and (after a failed bake) put the canaries back on their last good bundle."""

from __future__ import annotations

from collections.abc import Callable

from fleet import rollout, stacks, verify
from fleet.aws import AwsContext
from fleet.bundle import Bundle, OpenBundle
from fleet.deploy import baseline_targets, deploy_all
from fleet.ledger import Ledger, entry_key
from fleet.org import read_org


def targets(ctx: AwsContext, bundle: OpenBundle, environment: str, *, only: list[str] | None = None
            ) -> list[stacks.StackTarget]:
    """Stack targets of every baseline for an environment's accounts, resolved from the live org."""
    fleet = bundle.config
    env = fleet.environments
    org = read_org(ctx, with_tags=environment == "prod" and bool(env.prod_targets.tags))
    if environment == "beta":
        accounts = org.resolve_names(fleet, env.beta_accounts)
    elif environment == "gamma":
        accounts = org.resolve_names(fleet, env.gamma_accounts)
    else:
        accounts = org.resolve_targets(fleet, env.prod_targets)
    if only:
        accounts = [a for a in accounts if a.name in only or a.id in only]
    return [t for b in fleet.baselines for t in baseline_targets(fleet, b, accounts, bundle.root)]


def start_deployments(ctx: AwsContext, bundle: OpenBundle, environment: str, *, max_concurrent: int = 10
                      ) -> list[dict]:
    """Plan and execute the change sets without waiting; a sensor waits for the stacks to settle."""
    results = deploy_all(ctx, targets(ctx, bundle, environment), bundle.digest, max_concurrent=max_concurrent,
                         deploy=lambda c, t, d: stacks.deploy(c, t, d, wait=False))
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
            checks += verify.verify_security_baseline(ctx, r)
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
