"""The plan per baseline: actions, resolved parameters with NoEcho values masked, removals in the digest."""

from __future__ import annotations

from fleet import plan
from fleet.ledger import Entry
from fleet.stacks import ChangeSetPlan, StackTarget


def target(baseline: str = "security-baseline", **kw) -> StackTarget:
    return StackTarget("111111111111", "app-prod-01", "us-east-1", f"fleet-{baseline}", "", baseline=baseline, **kw)


def row(status: str, kind: str = "UPDATE", changes: list[dict] | None = None, **kw) -> dict:
    return plan.account_changes(ChangeSetPlan(target(**kw), "cs", kind, status, changes or []))


def test_actions_per_baseline_and_secret_parameters_masked():
    replaced = row("ready", changes=[{"action": "Modify", "type": "AWS::S3::Bucket", "replacement": "True"}])
    assert plan.action_of(replaced) == "replace"
    assert plan.action_of(row("ready", "CREATE")) == "add"
    assert plan.action_of(row("ready", changes=[{"action": "Modify", "type": "AWS::SNS::Topic"}])) == "modify"
    assert plan.action_of(row("no-changes")) == "unchanged"
    secret = row("ready", parameters={"Token": "s3cr3t", "RetentionDays": "365"}, masked=("Token",),
                 waiting={"NetworkVpcId": "{{ outputs.network.VpcId }}"})
    assert secret["parameters"] == {"NetworkVpcId": "(after deployment) {{ outputs.network.VpcId }}",
                                    "RetentionDays": "365", "Token": "****"}
    assert "s3cr3t" not in str(secret)


def test_a_removal_is_a_change_that_the_digest_covers():
    kept = plan.aggregate("d" * 64, [row("no-changes")], [["app-prod-01"]])
    assert kept["empty"] and kept["actions"]["unchanged"] == 1
    entry = Entry("111111111111", "us-east-1", "fleet-network", "app-prod-01", "d" * 64, "created", baseline="network")
    gone = plan.removal(entry, "app-prod-01", "delete", "app-prod-01 is no longer a target of network",
                        [{"logical_id": "Vpc", "type": "AWS::EC2::VPC"}])
    doc = plan.aggregate("d" * 64, [row("no-changes")], [["app-prod-01"]], [gone])
    assert not doc["empty"] and doc["removals"] == 1 and doc["totals"]["deletions"] == 1
    assert doc["plan_digest"] != kept["plan_digest"] and "1 delete" in doc["summary"]


def test_the_text_plan_lists_each_baseline_in_order_with_its_parameters():
    net = plan.account_changes(ChangeSetPlan(target("network", parameters={"VpcCidr": "10.1.0.0/16"}), "cs",
                                             "CREATE", "ready"))
    sec = plan.pending(target(waiting={"NetworkVpcId": "{{ outputs.network.VpcId }}"}), False,
                       "parameters NetworkVpcId are known once network is deployed in this account")
    text = plan.to_text(plan.aggregate("d" * 64, [net, sec], [["app-prod-01"]]))
    lines = text.splitlines()
    assert lines[0].startswith("prod plan: 1 accounts: 1 change")
    assert "network" in lines[3] and "add" in lines[3] and "VpcCidr=10.1.0.0/16" in lines[3]
    assert "security-baseline" in lines[4] and "known once network is deployed" in lines[4]
