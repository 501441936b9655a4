"""stacks.deploy and catalog.publish against a real local AWS (moto in-process plus our extensions).

The stack tests share the worker's seeded organization, each in a fresh member account of its own;
the catalog test takes a freshly seeded one (tests/conftest.py). The core is called directly,
without Airflow.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from fleet import catalog, stacks
from fleet.bundle import Bundle, OpenBundle
from fleet.org import read_org
from fleet.source import artifacts_bucket
from fleet.config import load_config

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Level:
    Type: String
    Default: low
Resources:
  Setting:
    Type: AWS::SSM::Parameter
    Properties:
      Name: !Sub "/fleet/core-test/${AWS::StackName}"
      Type: String
      Value: !Ref Level
Outputs:
  Level:
    Value: !Ref Level
"""


@pytest.fixture
def ctx(seeded_fleet):
    return seeded_fleet


@pytest.fixture
def member(fresh_account) -> tuple[str, str]:
    """(account id, name) of a fresh member account in the Beta OU, where beta-test is."""
    return fresh_account(ou="Beta")


def target(member, stack: str, **parameters: str) -> stacks.StackTarget:
    return stacks.StackTarget(member[0], member[1], "us-east-1", stack, TEMPLATE, parameters,
                              {"fleet:managed-by": "fleet-pipeline"})


def ssm_value(ctx, account_id: str, stack: str) -> str:
    return ctx.client("ssm", account_id).get_parameter(Name=f"/fleet/core-test/{stack}")["Parameter"]["Value"]


def test_deploy_creates_then_a_rerun_is_unchanged_then_a_changed_parameter_updates(ctx, member):
    stack = f"core-{uuid.uuid4().hex[:8]}"
    first = stacks.deploy(ctx, target(member, stack), "1" * 64)
    assert (first.status, first.error, first.stack_status) == ("created", None, "CREATE_COMPLETE")
    assert first.outputs == {"Level": "low"} and first.changes == 1
    assert ssm_value(ctx, member[0], stack) == "low"

    again = stacks.deploy(ctx, target(member, stack), "1" * 64)
    assert (again.status, again.changes, again.error) == ("unchanged", 0, None)
    other_digest_same_content = stacks.deploy(ctx, target(member, stack), "2" * 64)
    assert other_digest_same_content.status == "unchanged"

    changed = stacks.deploy(ctx, target(member, stack, Level="high"), "3" * 64)
    assert (changed.status, changed.stack_status, changed.error) == ("updated", "UPDATE_COMPLETE", None)
    assert changed.changes == 1 and changed.outputs == {"Level": "high"}
    assert ssm_value(ctx, member[0], stack) == "high"
    stack_doc = ctx.client("cloudformation", member[0]).describe_stacks(StackName=stack)["Stacks"][0]
    assert {"Key": "fleet:managed-by", "Value": "fleet-pipeline"} in stack_doc["Tags"]


def test_plan_previews_without_executing(ctx, member):
    stack = f"core-{uuid.uuid4().hex[:8]}"
    preview = stacks.plan(ctx, target(member, stack), "4" * 64)
    assert (preview.status, preview.change_set_type) == ("ready", "CREATE")
    assert [(c["action"], c["logical_id"], c["type"]) for c in preview.changes] == [
        ("Add", "Setting", "AWS::SSM::Parameter")]
    assert stacks.describe_stack(ctx, target(member, stack))["StackStatus"] == "REVIEW_IN_PROGRESS"
    # The same digest planned again (a retried task) finds the same change set, then deploys it.
    assert stacks.plan(ctx, target(member, stack), "4" * 64).change_set_name == preview.change_set_name
    assert stacks.deploy(ctx, target(member, stack), "4" * 64).status == "created"


def test_a_failing_deployment_is_a_result_not_an_exception(ctx, member):
    # A real CloudFormation failure: a role of the same name already exists in the account.
    role = f"core-{uuid.uuid4().hex[:8]}"
    trust = json.dumps({"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
    ctx.client("iam", member[0]).create_role(RoleName=role, AssumeRolePolicyDocument=trust)
    body = json.dumps({"Resources": {"Role": {"Type": "AWS::IAM::Role", "Properties": {
        "RoleName": role, "AssumeRolePolicyDocument": json.loads(trust)}}}})
    broken = stacks.StackTarget(member[0], member[1], "us-east-1", role, body)
    result = stacks.deploy(ctx, broken, "5" * 64)
    assert result.status == "failed" and role in (result.error or ""), result


# -- Service Catalog ------------------------------------------------------------------------------

@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("keep_versions: 3 ", "keep_versions: 1 "))
    return repo


def publish(ctx, fleet_dir: Path, digest: str) -> dict:
    fleet = load_config(fleet_dir / "fleet.yaml")
    bucket = artifacts_bucket(fleet.organization.management_account, ctx.region)
    s3 = ctx.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    # The fleet folder stands in for an unpacked bundle of that digest.
    bundle = OpenBundle(Bundle(bucket, digest, commit="a" * 40), fleet_dir, fleet)
    return catalog.publish(ctx, bundle, read_org(ctx, with_tags=False))


def artifacts(ctx, product_id: str) -> dict[str, dict]:
    sc = ctx.client("servicecatalog")
    out = {}
    for a in sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]:
        out[a["Name"]] = sc.describe_provisioning_artifact(ProductId=product_id,
                                                           ProvisioningArtifactId=a["Id"])["ProvisioningArtifactDetail"]
    return out


def test_catalog_publish_is_idempotent_per_digest_and_deprecates_beyond_keep_versions(fresh_fleet, fleet_dir):
    # A freshly seeded organization: the catalog's portfolio and products have the sample config's names.
    ctx = fresh_fleet
    one, two = "d" * 64, "e" * 64
    first = publish(ctx, fleet_dir, one)
    (v1,) = first["products"]
    assert v1["created"] and v1["version"] == f"v1-{one[:12]}" and first["changes"] > 0
    assert v1["constraint"] == "created" and first["shares"][0]["ou"] == "Workloads"

    again = publish(ctx, fleet_dir, one)
    (same,) = again["products"]
    assert again["changes"] == 0, again
    assert (same["product_id"], same["artifact_id"], same["version"]) == (v1["product_id"], v1["artifact_id"],
                                                                         v1["version"])
    assert not same["created"] and same["constraint"] == "unchanged"
    assert again["portfolio_id"] == first["portfolio_id"]
    sc = ctx.client("servicecatalog")
    portfolios = [p for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == "Shared Services"]
    assert len(portfolios) == 1
    assert list(artifacts(ctx, v1["product_id"])) == [v1["version"]]

    second = publish(ctx, fleet_dir, two)
    (v2,) = second["products"]
    assert v2["product_id"] == v1["product_id"] and v2["created"] and v2["version"] == f"v2-{two[:12]}"
    found = artifacts(ctx, v1["product_id"])
    assert set(found) == {v1["version"], v2["version"]}
    assert found[v2["version"]]["Description"] == f"commit {'a' * 12}, bundle {two}"
    # keep_versions: 1, so the older version is deprecated (still provisioned, no longer offered).
    assert v2["deprecated"] == [v1["version"]]
    assert [found[v]["Guidance"] for v in (v1["version"], v2["version"])] == ["DEPRECATED", "DEFAULT"]

    settled = publish(ctx, fleet_dir, two)
    assert settled["changes"] == 0 and settled["products"][0]["deprecated"] == []
