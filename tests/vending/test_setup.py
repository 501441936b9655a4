"""Setting up a new account: OU, tags, SCPs, guardrail services, baselines; twice changes nothing."""

from __future__ import annotations

import uuid

from fleet import account_setup, accounts
from fleet.accounts import Request
from fleet.config import Vending, load_config

REPO_FLEET = "include/fleet.yaml"


def unique_name(prefix: str) -> str:
    """Accounts of their own in the organization every test of a worker shares (seeded_fleet)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def new_account(ctx, name):
    out = accounts.request_account(ctx, Request(name, f"{name}@example.com", "Prod"),
                                   vending=Vending(), run_id="run-1")
    state, _ = accounts.wait_ready(ctx, name, out.request_id, out.account_id, ("us-east-1",), timeout=30, poll=0.2)
    assert state.stage == "ready", state.detail
    return state.account_id


TAGS = {"tier": "workload", "team": "new", "vpc_cidr": "10.202.0.0/16"}


def test_setup_makes_the_account_a_fleet_member_and_a_second_run_changes_nothing(seeded_fleet):
    ctx = seeded_fleet
    fleet = load_config(REPO_FLEET)
    name = unique_name("fresh")
    account_id = new_account(ctx, name)
    org = ctx.client("organizations")
    steps = account_setup.setup_account(ctx, fleet, name=name, email=f"{name}@example.com", ou="Prod",
                                        tags=TAGS, account_id=account_id)
    by_step = {s.step: s.status for s in steps}
    assert by_step["ou"] == "done" and by_step["tags"] == "done" and by_step["scps"] == "done"
    for region in fleet.organization.regions:
        for service in ("guardduty", "securityhub", "macie"):
            assert by_step[f"{service}:{region}"] == "done", (service, region)
    # Prod gets the network first (its VPC from the account's tag), then the security baseline reading it.
    assert [s.step for s in steps if s.step.startswith("baseline:")] == [
        "baseline:network:us-east-1", "baseline:security-baseline:us-east-1"]
    assert by_step["baseline:security-baseline:us-east-1"] == "done"

    # What AWS now says, read back through the services' own APIs.
    parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
    assert org.describe_organizational_unit(OrganizationalUnitId=parent)["OrganizationalUnit"]["Name"] == "Prod"
    tags = {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=account_id)["Tags"]}
    assert tags == TAGS
    attached = [p["Name"] for p in org.list_policies_for_target(TargetId=account_id,
                                                                 Filter="SERVICE_CONTROL_POLICY")["Policies"]]
    assert "deny-leave-organization" in attached
    for region in fleet.organization.regions:
        assert ctx.client("guardduty", account_id, region).list_detectors()["DetectorIds"]
        sh = ctx.client("securityhub", account_id, region)
        assert [s["StandardsArn"] for s in sh.get_enabled_standards()["StandardsSubscriptions"]] == [
            f"arn:aws:securityhub:{region}::standards/aws-foundational-security-best-practices/v/1.0.0"]
        assert ctx.client("macie2", account_id, region).get_macie_session()["status"] == "ENABLED"
    stack = ctx.client("cloudformation", account_id).describe_stacks(StackName="fleet-security-baseline")["Stacks"][0]
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    vpc = ctx.client("ec2", account_id).describe_vpcs(Filters=[{"Name": "tag:fleet:baseline", "Values": ["network"]}])
    assert [v["CidrBlock"] for v in vpc["Vpcs"]] == ["10.202.0.0/16"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in stack["Parameters"]}["NetworkVpcId"] == vpc["Vpcs"][0]["VpcId"]

    again = account_setup.setup_account(ctx, fleet, name=name, email=f"{name}@example.com", ou="Prod",
                                        tags=TAGS, account_id=account_id)
    assert {s.status for s in again} == {"already"}, [s for s in again if s.status != "already"]


def test_already_enabled_answers_are_success(seeded_fleet):
    """Services enabled by someone else first (AWS answers "already ..."): each step says already."""
    ctx = seeded_fleet
    account_id = new_account(ctx, unique_name("fresh"))
    region = "us-east-1"
    ctx.client("guardduty", account_id, region).create_detector(Enable=True)
    ctx.client("securityhub", account_id, region).enable_security_hub(EnableDefaultStandards=False)
    ctx.client("macie2", account_id, region).enable_macie()
    assert account_setup.enable_guardduty(ctx, account_id, region).status == "already"
    assert account_setup.enable_macie(ctx, account_id, region).status == "already"
    hub = account_setup.enable_securityhub(ctx, account_id, region, ())
    assert hub.status == "already"
