"""The approved plan binds the rollout: the accounts and change sets deployed are exactly those in
the plan the decision names; targets that resolve to nothing fail the plan instead of passing empty."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fleet import stacks
from fleet.stages import prod, source

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def payments(fleet_ctx, tmp_path):
    """A bundle whose prod targets are the accounts tagged team: payments (app-prod-01 and -02)."""
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    text = cfg.read_text()
    assert "targets: {ous: [Prod], exclude_accounts: []}" in text
    cfg.write_text(text.replace("targets: {ous: [Prod], exclude_accounts: []}", "targets: {tags: {team: payments}}"))
    return source.snapshot_and_upload(fleet_ctx, repo).open(fleet_ctx)


def ids(ctx) -> dict[str, str]:
    return {a["Name"]: a["Id"] for a in ctx.client("organizations").list_accounts()["Accounts"]}


def test_an_account_that_appears_after_approval_is_left_for_the_next_run(fleet_ctx, payments):
    planned = prod.plan(fleet_ctx, payments, run_id="r1")
    assert {r["account_name"] for r in planned["accounts"]} == {"app-prod-01", "app-prod-02"}
    # After approval someone tags a third account into the targets.
    org = fleet_ctx.client("organizations")
    org.tag_resource(ResourceId=ids(fleet_ctx)["app-prod-03"], Tags=[{"Key": "team", "Value": "payments"}])
    logged = []
    result = prod.run_rollout(fleet_ctx, payments, run_id="r1", approved_plan=planned["plan_digest"],
                              log=logged.append)
    assert result["not_in_plan"] == ["app-prod-03"]
    assert any("app-prod-03: not in the approved plan" in line for line in logged)
    deployed = {r["account_name"] for w in result["waves"] for r in w["results"]}
    assert deployed == {"app-prod-01", "app-prod-02"} and not result["halted"]
    target = stacks.StackTarget(ids(fleet_ctx)["app-prod-03"], "app-prod-03", "us-east-1", "fleet-security-baseline",
                                "", {}, {})
    assert stacks.describe_stack(fleet_ctx, target) is None  # never touched


def test_a_change_set_that_differs_from_the_plan_is_not_executed(fleet_ctx, payments):
    planned = prod.plan(fleet_ctx, payments, run_id="r2")
    row = next(r for r in planned["accounts"] if r["account_name"] == "app-prod-01")
    account = ids(fleet_ctx)["app-prod-01"]
    cfn = fleet_ctx.client("cloudformation", account, row["region"])
    stack = cfn.describe_stacks()["Stacks"][0]["StackName"]
    name = cfn.list_change_sets(StackName=stack)["Summaries"][0]["ChangeSetName"]
    # Someone with CloudFormation access swaps the planned change set for another under its name.
    cfn.delete_change_set(StackName=stack, ChangeSetName=name)
    cfn.create_change_set(StackName=stack, ChangeSetName=name, ChangeSetType="CREATE",
                          TemplateBody=json.dumps({"Resources": {"Extra": {"Type": "AWS::SNS::Topic"}}}))
    result = prod.run_rollout(fleet_ctx, payments, run_id="r2", approved_plan=planned["plan_digest"],
                              log=lambda *_: None)
    by_name = {r["account_name"]: r for w in result["waves"] for r in w["results"]}
    assert by_name["app-prod-01"]["status"] == "failed"
    assert "differs from the approved plan" in by_name["app-prod-01"]["error"]
    assert not fleet_ctx.client("sns", account, row["region"]).list_topics()["Topics"]


def test_a_replaced_plan_artifact_is_not_the_approved_plan(fleet_ctx, payments):
    planned = prod.plan(fleet_ctx, payments, run_id="r3")
    s3 = fleet_ctx.client("s3")
    key = "plans/r3/plan.json"
    doc = json.loads(s3.get_object(Bucket=payments.bucket, Key=key)["Body"].read())
    doc["accounts"] = doc["accounts"][:1]  # fewer targets, the approved digest kept
    s3.put_object(Bucket=payments.bucket, Key=key, Body=json.dumps(doc).encode())
    with pytest.raises(prod.PlanError, match="is not the approved plan"):
        prod.run_rollout(fleet_ctx, payments, run_id="r3", approved_plan=planned["plan_digest"])


def test_targets_that_resolve_to_nothing_fail_the_plan(fleet_ctx, payments):
    with pytest.raises(prod.PlanError, match="'app-prod-99' match no prod account"):
        prod.plan(fleet_ctx, payments, run_id="r4", only=["app-prod-01", "app-prod-99"])
    org = fleet_ctx.client("organizations")
    for name in ("app-prod-01", "app-prod-02"):  # nobody carries the target tag any more
        org.untag_resource(ResourceId=ids(fleet_ctx)[name], TagKeys=["team"])
    with pytest.raises(prod.PlanError, match="resolve to no account"):
        prod.plan(fleet_ctx, payments, run_id="r5")
