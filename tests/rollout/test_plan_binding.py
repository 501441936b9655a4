"""The approved plan binds the rollout (issue 12, item 4): exactly its accounts and change sets are
deployed; an account that appeared after the approval is left for the next run; a change set that
differs from the planned one is not executed; a plan with no target fails instead of being approved."""

from __future__ import annotations

import json
import time

import pytest

from fleet import plan as plan_mod
from fleet import stacks
from fleet.deploy import deploy_all
from fleet.stages import prod

from tests.support.bundles import make_bundle

STACK = "fleet-security-baseline"


def new_prod_account(ctx, name: str) -> str:
    """An account made and moved into the Prod OU: what happens in the organization between the
    approval and the rollout."""
    org = ctx.client("organizations")
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
    for _ in range(50):
        if status["State"] != "IN_PROGRESS":
            break
        time.sleep(0.1)
        status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    assert status["State"] == "SUCCEEDED", status
    root = org.list_roots()["Roots"][0]["Id"]
    prod_ou = next(ou["Id"] for page in org.get_paginator("list_organizational_units_for_parent").paginate(
        ParentId=root) for ou in page["OrganizationalUnits"] if ou["Name"] == "Workloads")
    prod_ou = next(ou["Id"] for page in org.get_paginator("list_organizational_units_for_parent").paginate(
        ParentId=prod_ou) for ou in page["OrganizationalUnits"] if ou["Name"] == "Prod")
    org.move_account(AccountId=status["AccountId"], SourceParentId=root, DestinationParentId=prod_ou)
    return status["AccountId"]


def results(rolled: dict) -> dict[str, dict]:
    return {r["account_name"]: r for w in rolled["waves"] for r in w["results"]}


def test_an_account_that_appears_after_approval_is_not_deployed(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    approved = prod.plan(fleet_ctx, a, run_id="bind-1")
    late_id = new_prod_account(fleet_ctx, "app-prod-late")
    assert "app-prod-late" in {t.account_name for w in prod.waves(fleet_ctx, a) for t in w}
    rolled = prod.run_rollout(fleet_ctx, a, run_id="bind-1", plan_digest=approved["plan_digest"], log=lambda *_: None)
    assert rolled["not_in_plan"] == ["app-prod-late"]
    assert "app-prod-late" not in results(rolled)
    assert {r["status"] for r in results(rolled).values()} == {"created"}
    assert set(results(rolled)) == {r["account_name"] for r in approved["accounts"]}
    assert stacks.describe_stack(fleet_ctx, stacks.StackTarget(late_id, "", "us-east-1", STACK, "")) is None
    # Unbound (the old behaviour, still what a direct call without a plan does) it would have been deployed.
    assert "app-prod-late" in {t.account_name for w in prod.waves(fleet_ctx, a) for t in w}


def test_a_change_set_that_differs_from_the_approved_one_is_not_executed(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    prod.run_rollout(fleet_ctx, a, run_id="bind-a", log=lambda *_: None)
    b = make_bundle(fleet_ctx, tmp_path, "b", "400")
    approved = prod.plan(fleet_ctx, b, run_id="bind-b")  # every account: UPDATE, RetentionDays 365 -> 400
    canary = prod.waves(fleet_ctx, b)[0][0]
    # After the approval the canary's stack is deleted: b's change set there would now CREATE it.
    cfn = fleet_ctx.client("cloudformation", canary.account_id, canary.region)
    cfn.delete_stack(StackName=STACK)
    for _ in range(100):
        if stacks.describe_stack(fleet_ctx, canary) is None:
            break
        time.sleep(0.1)
    rolled = prod.run_rollout(fleet_ctx, b, run_id="bind-b", plan_digest=approved["plan_digest"], log=lambda *_: None)
    got = results(rolled)[canary.account_name]
    assert got["status"] == "failed" and "differs from the approved plan" in got["error"], got
    assert "not executed" in got["error"]
    stack = stacks.describe_stack(fleet_ctx, canary)
    params = {p["ParameterKey"]: p["ParameterValue"] for p in (stack or {}).get("Parameters", [])}
    assert params.get("RetentionDays") != "400", "b's unapproved CREATE ran in the canary"
    assert rolled["halted"] and rolled["not_started"], "the rollout stops there, as for any failed wave"


def test_a_retried_rollout_keeps_its_executed_change_sets(fleet_ctx, tmp_path):
    """The Celery retry's case: an earlier try executed the approved change sets; the retry finds
    them done (no change) and reports them as that try's, not as refused."""
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    approved = prod.plan(fleet_ctx, a, run_id="bind-retry")
    first_wave = prod.waves(fleet_ctx, a)[0]
    # The lost try got this far (each account's baselines in dependency order) and recorded nothing.
    assert {r.status for r in deploy_all(fleet_ctx, first_wave, a.digest, max_concurrent=4)} == {"created"}
    rolled = prod.run_rollout(fleet_ctx, a, run_id="bind-retry", plan_digest=approved["plan_digest"],
                              log=lambda *_: None, try_number=2)
    assert not rolled["halted"], results(rolled)
    rows = [r for w in rolled["waves"] for r in w["results"]]
    done_before = {(t.account_id, t.stack_name) for t in first_wave}
    assert {r["status"] for r in rows if (r["account_id"], r["stack_name"]) in done_before} == {"unchanged"}
    assert {r["status"] for r in rows if (r["account_id"], r["stack_name"]) not in done_before} == {"created"}


def test_an_edited_stored_plan_refuses_the_rollout(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    approved = prod.plan(fleet_ctx, a, run_id="bind-edit")
    s3, key = fleet_ctx.client("s3"), "plans/bind-edit/plan.json"
    doc = json.loads(s3.get_object(Bucket=a.bucket, Key=key)["Body"].read())
    doc["accounts"] = doc["accounts"][:1]
    s3.put_object(Bucket=a.bucket, Key=key, Body=json.dumps(doc).encode())
    with pytest.raises(plan_mod.PlanMismatch, match="is not the approved plan"):
        prod.run_rollout(fleet_ctx, a, run_id="bind-edit", plan_digest=approved["plan_digest"], log=lambda *_: None)


def test_targets_that_resolve_to_nothing_fail_the_plan(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    with pytest.raises(prod.NoTargets, match="'app-prod-O1', not among the prod targets"):
        prod.plan(fleet_ctx, a, run_id="typo", only=["app-prod-O1", "app-prod-02"])
    with pytest.raises(prod.NoTargets, match=r"resolve to no ACTIVE account \(environments.prod.targets: ous "
                                             r"\['Prod'\].*the targets Param limits them to \['audit'\]"):
        prod.plan(fleet_ctx, a, run_id="empty", only=["audit"])
