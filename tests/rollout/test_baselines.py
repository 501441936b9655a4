"""The sample fleet's two baselines on local AWS: per-baseline targets, per-account parameters (tags,
outputs, overrides), dependency order and its failures, and safe removal after an approved plan."""

from __future__ import annotations

import shutil
from collections.abc import Callable

from fleet import stacks
from fleet.ledger import Ledger
from fleet.org import read_org
from fleet.stages import environment, prod
from fleet.stages import source as source_stage

from tests.support import REPO

SECURITY, NETWORK = "fleet-security-baseline", "fleet-network"
PROD = [f"app-prod-0{i}" for i in range(1, 9)]


def bundle_with(ctx, tmp_path, name: str, edit: Callable[[str], str] = lambda text: text):
    """A copy of the sample fleet with ``edit`` applied to its fleet.yaml, snapshotted into S3."""
    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    text = cfg.read_text()
    changed = edit(text)
    assert changed != text or name == "sample", "the edit changed nothing"
    cfg.write_text(changed)
    return source_stage.snapshot_and_upload(ctx, repo).open(ctx)


def rollout(ctx, bundle, run_id: str, *, deploy=stacks.deploy, tolerance: int = 0, planned: bool = False):
    """The prod rollout as prod.rollout runs it (with ``planned``: after this run's plan, so the
    plan's removals are approved), or the bare waves with an injected deploy."""
    if deploy is stacks.deploy and planned:
        return prod.run_rollout(ctx, bundle, run_id=run_id, log=lambda *_: None)
    from fleet import rollout as engine

    ledger = Ledger(ctx)
    ledger.ensure_table()
    result = engine.run_waves(ctx, prod.waves(ctx, bundle), bundle.digest, max_concurrent=4,
                              failure_tolerance=tolerance, deploy=deploy, ledger=ledger, run_id=run_id,
                              log=lambda *_: None)
    return result.to_dict()


def results(doc: dict) -> dict[tuple[str, str], dict]:
    return {(r["account_name"], r["stack_name"]): r for w in doc["waves"] for r in w["results"]}


def ids(ctx) -> dict[str, str]:
    return {a.name: a.id for a in read_org(ctx, with_tags=False).accounts}


def stack(ctx, account_id: str, name: str) -> dict | None:
    return stacks.describe_stack(ctx, stacks.StackTarget(account_id, "", "us-east-1", name, ""))


def parameters(s: dict) -> dict[str, str]:
    return {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]}


def outputs(s: dict) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in s.get("Outputs", [])}


def test_targets_parameters_and_order_land_as_configured(fleet_ctx, tmp_path):
    bundle = bundle_with(fleet_ctx, tmp_path, "sample")
    doc = rollout(fleet_ctx, bundle, "r1", planned=True)
    assert not doc["halted"] and doc["removals"] == []
    acct = ids(fleet_ctx)
    tags = {a.name: a.tags for a in read_org(fleet_ctx).accounts}
    # Targets per baseline: the network in Infrastructure and Prod, security in prod targets only.
    for name in ("audit", "log-archive", "beta-test", "canary-01"):
        assert stack(fleet_ctx, acct[name], NETWORK) is None and stack(fleet_ctx, acct[name], SECURITY) is None
    assert stack(fleet_ctx, acct["shared-network"], SECURITY) is None
    for name in [*PROD, "shared-network"]:
        net = stack(fleet_ctx, acct[name], NETWORK)
        # The VPC's CIDR comes from the account's own tag, read back from EC2.
        vpc = fleet_ctx.client("ec2", acct[name]).describe_vpcs(VpcIds=[outputs(net)["VpcId"]])["Vpcs"][0]
        assert vpc["CidrBlock"] == tags[name]["vpc_cidr"] == parameters(net)["VpcCidr"]
    for name in PROD:
        sec = stack(fleet_ctx, acct[name], SECURITY)
        net = stack(fleet_ctx, acct[name], NETWORK)
        # The security baseline reads the network's output in the same account.
        assert parameters(sec)["NetworkVpcId"] == outputs(net)["VpcId"]
        # The per-account override: only app-prod-07 has an alert address (and its subscription).
        email = "identity-oncall@example.com" if name == "app-prod-07" else ""
        assert parameters(sec)["AlertEmail"] == email
        # Dependency order: the network was complete before the security stack was created.
        assert net["CreationTime"] <= sec["CreationTime"]
        topic = fleet_ctx.client("sns", acct[name]).list_tags_for_resource(
            ResourceArn=outputs(sec)["AlertsTopicArn"])["Tags"]
        assert {"Key": "fleet:vpc", "Value": outputs(net)["VpcId"]} in topic
    subs = fleet_ctx.client("sns", acct["app-prod-07"]).list_subscriptions()["Subscriptions"]
    assert [s["Endpoint"] for s in subs] == ["identity-oncall@example.com"]
    entries = {(e.account_name, e.stack_name): e for e in Ledger(fleet_ctx).scan()}
    assert entries[("app-prod-01", SECURITY)].depends_on == ("network",)
    assert entries[("app-prod-01", NETWORK)].outputs["VpcId"] == outputs(stack(fleet_ctx, acct["app-prod-01"], NETWORK))["VpcId"]


def test_beta_and_gamma_deploy_each_baseline_with_their_own_parameters_in_order(fleet_ctx, tmp_path):
    bundle = bundle_with(fleet_ctx, tmp_path, "sample")
    started = environment.start_deployments(fleet_ctx, bundle, "beta")
    doc = environment.integration_tests(fleet_ctx, started, bundle=bundle.ref, run_id="beta")
    assert not doc["failed_deployments"] and not doc["failed_checks"], doc
    assert {c["name"] for c in doc["checks"]} >= {"vpc_as_configured", "alerts_topic"}
    beta = ids(fleet_ctx)["beta-test"]
    net, sec = stack(fleet_ctx, beta, NETWORK), stack(fleet_ctx, beta, SECURITY)
    assert parameters(net)["VpcCidr"] == "10.10.0.0/16"
    assert parameters(sec)["NetworkVpcId"] == outputs(net)["VpcId"]


def test_an_unresolvable_value_fails_only_that_account_before_anything_is_deployed(fleet_ctx, tmp_path):
    acct = ids(fleet_ctx)
    fleet_ctx.client("organizations").untag_resource(ResourceId=acct["app-prod-04"], TagKeys=["vpc_cidr"])
    bundle = bundle_with(fleet_ctx, tmp_path, "sample")
    plan = prod.plan(fleet_ctx, bundle, run_id="p1")
    rows = {(r["account_name"], r["baseline"]): r for r in plan["accounts"]}
    for baseline in ("network", "security-baseline"):
        row = rows[("app-prod-04", baseline)]
        assert row["status"] == "failed" and row["action"] == "failed"
        assert "account.tags.vpc_cidr: account app-prod-04 has no tag 'vpc_cidr'" in row["reason"]
    assert rows[("app-prod-03", "network")]["action"] == "add" and plan["failed"] == 2
    # The plan made no change set in that account; the others have theirs.
    cfn = fleet_ctx.client("cloudformation", acct["app-prod-04"])
    assert cfn.list_stacks()["StackSummaries"] == []
    doc = rollout(fleet_ctx, bundle, "r1", tolerance=1)
    by = results(doc)
    assert not doc["halted"] and [w["failed_accounts"] for w in doc["waves"]] == [[], [], ["app-prod-04"]]
    assert by[("app-prod-04", NETWORK)]["error"].startswith("ParameterError: network: parameter VpcCidr")
    assert "nothing deployed in this account" in by[("app-prod-04", SECURITY)]["error"]
    assert cfn.list_stacks()["StackSummaries"] == []
    assert {by[(n, SECURITY)]["status"] for n in PROD if n != "app-prod-04"} == {"created"}


def test_a_failed_baseline_stops_its_dependants_in_that_account_only(fleet_ctx, tmp_path):
    bundle = bundle_with(fleet_ctx, tmp_path, "sample")

    def network_fails_in_05(ctx, target, digest, **kw):
        if target.account_name == "app-prod-05" and target.stack_name == NETWORK:
            return stacks.DeployResult(target.account_id, target.account_name, target.region, target.stack_name,
                                       "failed", error="AccessDenied: injected by the test")
        return stacks.deploy(ctx, target, digest, **kw)

    doc = rollout(fleet_ctx, bundle, "r1", deploy=network_fails_in_05, tolerance=1)
    by = results(doc)
    assert not doc["halted"]
    # Two failed stacks in one account count once toward the tolerance.
    assert doc["waves"][2]["failures"] == 1 and doc["waves"][2]["failed_accounts"] == ["app-prod-05"]
    assert by[("app-prod-05", SECURITY)]["error"] == ("DependencyFailed: network failed in this account; "
                                                      "security-baseline not deployed")
    assert stack(fleet_ctx, ids(fleet_ctx)["app-prod-05"], SECURITY) is None
    assert by[("app-prod-06", SECURITY)]["status"] == "created"


def without_baselines(text: str) -> str:
    start, end = text.index("baselines:"), text.index("guardrails:")
    return text[:start] + "baselines: []\n\n" + text[end:]


def test_a_removed_baseline_is_deleted_in_reverse_order_only_after_an_approved_plan(fleet_ctx, tmp_path):
    acct = ids(fleet_ctx)
    rollout(fleet_ctx, bundle_with(fleet_ctx, tmp_path, "sample"), "r1")
    gone = bundle_with(fleet_ctx, tmp_path, "gone", without_baselines)
    # A rollout with no plan of its own deletes nothing: removal needs the approved plan.
    assert prod.run_rollout(fleet_ctx, gone, run_id="unplanned", log=lambda *_: None)["removals"] == []
    assert stack(fleet_ctx, acct["app-prod-01"], SECURITY) is not None
    plan = prod.plan(fleet_ctx, gone, run_id="r2")
    assert not plan["empty"] and not plan["auto_approve"] and plan["removals"] == 17
    deletions = [(r["account_name"], r["baseline"]) for r in plan["accounts"] if r["action"] == "delete"]
    assert len(deletions) == 17
    # Dependants first: every security stack before any network stack.
    assert [b for _, b in deletions] == ["security-baseline"] * 8 + ["network"] * 9
    row = next(r for r in plan["accounts"] if r["action"] == "delete" and r["baseline"] == "security-baseline")
    assert "baseline security-baseline is no longer in the config" in row["reason"] and row["deletions"] >= 5
    doc = prod.run_rollout(fleet_ctx, gone, run_id="r2", log=lambda *_: None)
    assert [(r["stack_name"], r["status"]) for r in doc["removals"]] == [(SECURITY, "deleted")] * 8 + [
        (NETWORK, "deleted")] * 9
    for name in [*PROD, "shared-network"]:
        assert stack(fleet_ctx, acct[name], SECURITY) is None and stack(fleet_ctx, acct[name], NETWORK) is None
    assert {e.status for e in Ledger(fleet_ctx).scan()} == {"deleted"}
    assert prod.plan(fleet_ctx, gone, run_id="r3")["empty"]  # nothing left to remove


def test_on_removal_retain_leaves_the_stack_and_stops_managing_it(fleet_ctx, tmp_path):
    acct = ids(fleet_ctx)
    retained = bundle_with(fleet_ctx, tmp_path, "retain", lambda t: t.replace(
        "    depends_on: [network]\n", "    depends_on: [network]\n    on_removal: retain\n"))
    rollout(fleet_ctx, retained, "r1")
    # The config no longer names the baseline: its on_removal comes from the ledger.
    gone = bundle_with(fleet_ctx, tmp_path, "gone", lambda t: t[:t.index("  - name: security-baseline")]
                       + "\n" + t[t.index("guardrails:"):])
    plan = prod.plan(fleet_ctx, gone, run_id="r2")
    assert {r["action"] for r in plan["accounts"] if r["baseline"] == "security-baseline"} == {"retain"}
    assert not plan["empty"] and not plan["auto_approve"]
    doc = prod.run_rollout(fleet_ctx, gone, run_id="r2", log=lambda *_: None)
    assert {r["status"] for r in doc["removals"]} == {"retained"} and len(doc["removals"]) == 8
    sec = stack(fleet_ctx, acct["app-prod-01"], SECURITY)
    assert sec["StackStatus"] == "CREATE_COMPLETE"  # untouched
    entries = {(e.account_name, e.stack_name): e for e in Ledger(fleet_ctx).scan()}
    assert entries[("app-prod-01", SECURITY)].status == "retained" and not entries[("app-prod-01", SECURITY)].managed
    assert prod.plan(fleet_ctx, gone, run_id="r3")["empty"]


def test_an_account_moved_out_of_its_ou_has_its_stacks_removed_by_the_next_approved_plan(fleet_ctx, tmp_path):
    acct = ids(fleet_ctx)
    bundle = bundle_with(fleet_ctx, tmp_path, "sample")
    rollout(fleet_ctx, bundle, "r1")
    org = fleet_ctx.client("organizations")
    view = read_org(fleet_ctx, with_tags=False)
    org.move_account(AccountId=acct["app-prod-08"], SourceParentId=view.ou_id("Prod"),
                     DestinationParentId=view.ou_id("Security"))
    plan = prod.plan(fleet_ctx, bundle, run_id="r2")
    removals = [(r["account_name"], r["baseline"], r["action"]) for r in plan["accounts"]
                if r["action"] in ("delete", "retain")]
    assert removals == [("app-prod-08", "security-baseline", "delete"), ("app-prod-08", "network", "delete")]
    assert "app-prod-08 is no longer a target of network" in plan["accounts"][-1]["reason"]
    assert not plan["auto_approve"]
    doc = prod.run_rollout(fleet_ctx, bundle, run_id="r2", log=lambda *_: None)
    assert [(r["stack_name"], r["status"]) for r in doc["removals"]] == [(SECURITY, "deleted"), (NETWORK, "deleted")]
    assert stack(fleet_ctx, acct["app-prod-08"], SECURITY) is None and stack(fleet_ctx, acct["app-prod-08"], NETWORK) is None
    assert stack(fleet_ctx, acct["app-prod-07"], SECURITY)["StackStatus"] == "CREATE_COMPLETE"
