"""The Service Catalog lifecycle on local AWS: versions per bundle, deprecation, launch role,
constraints, principals, shares accepted, tag options, the end-user smoke test, idempotent reruns."""

from __future__ import annotations

import json
import re

import pytest

from fleet import catalog
from fleet.stages import catalog as stage

from tests.support.bundles import commit, fleet_repo, org, snapshot

SHARED = ["app-prod-01", "app-prod-02", "app-prod-03", "app-prod-04", "app-prod-05", "app-prod-06",
          "app-prod-07", "app-prod-08", "beta-test", "canary-01", "canary-02"]
NOT_SHARED = ["audit", "log-archive", "shared-network"]


def ids(ctx) -> dict[str, str]:
    return {a.name: a.id for a in org(ctx).accounts}


def artifacts(ctx, product_id: str) -> dict[str, dict]:
    sc = ctx.client("servicecatalog")
    out = {}
    for a in sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]:
        out[a["Name"]] = sc.describe_provisioning_artifact(ProductId=product_id,
                                                            ProvisioningArtifactId=a["Id"])["ProvisioningArtifactDetail"]
    return out


def new_version(repo, n: int) -> None:
    """A product change (a new default) committed, so the next bundle has a new digest and commit."""
    path = repo / "templates" / "products" / "encrypted-bucket.yaml"
    text = re.sub(r"(NoncurrentVersionDays:\n\s+Type: Number\n\s+Default: )\d+", rf"\g<1>{90 + n}", path.read_text())
    path.write_text(text)
    commit(repo, f"encrypted-bucket: noncurrent days {90 + n}")


def test_three_bundle_versions_with_deprecation_then_a_rerun_changes_nothing(aws, tmp_path):
    repo = fleet_repo(tmp_path)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("keep_versions: 3 ", "keep_versions: 2 "))
    commit(repo, "keep two versions")
    published = []
    for n in range(3):
        if n:
            new_version(repo, n)
        bundle = snapshot(aws, repo)
        published.append((bundle, stage.publish(aws, bundle)))
    docs = [d for _, d in published]
    product_id = docs[0]["products"][0]["product_id"]
    assert {d["products"][0]["product_id"] for d in docs} == {product_id}  # one product, three versions
    names = [d["products"][0]["version"] for d in docs]
    assert [n.split("-")[0] for n in names] == ["v1", "v2", "v3"]
    for (bundle, _), name in zip(published, names):
        assert name.endswith(bundle.digest[:12])
    found = artifacts(aws, product_id)
    assert set(found) == set(names)
    for (bundle, _), name in zip(published, names):
        assert found[name]["Description"] == f"commit {bundle.commit[:12]}, bundle {bundle.digest}"
    assert [found[n]["Guidance"] for n in names] == ["DEPRECATED", "DEFAULT", "DEFAULT"]
    assert docs[2]["products"][0]["deprecated"] == [names[0]]

    # An end user is no longer offered the deprecated version.
    smoke = stage.smoke_test(aws, published[2][0], docs[2])
    assert smoke["ok"], smoke["failed"]
    with pytest.raises(Exception, match="deprecated"):
        stage.smoke_test(aws, published[0][0], {**docs[0], "products": [
            {**docs[0]["products"][0], "artifact_id": found[names[0]]["Id"]}]})

    # The same bundle again: nothing changes anywhere.
    stacks_before = launch_role_stacks(aws)
    again = stage.publish(aws, published[2][0])
    assert again["changes"] == 0, again
    assert again["products"][0]["version"] == names[2] and not again["products"][0]["created"]
    assert set(artifacts(aws, product_id)) == set(names)
    assert launch_role_stacks(aws) == stacks_before
    assert all(r["status"] == "unchanged" for r in again["launch_roles"])


def launch_role_stacks(ctx) -> dict[str, tuple]:
    out = {}
    for name, acct in ids(ctx).items():
        cfn = ctx.client("cloudformation", acct)
        try:
            s = cfn.describe_stacks(StackName="fleet-catalog-launch-role-ServiceCatalogLaunchRole")["Stacks"][0]
            out[name] = (s["StackStatus"], s.get("LastUpdatedTime"))
        except cfn.exceptions.ClientError:
            out[name] = None
    return out


def test_launch_role_lives_where_the_constraint_is_made_and_where_users_launch(aws, tmp_path):
    bundle = snapshot(aws, fleet_repo(tmp_path))
    doc = stage.publish(aws, bundle)
    accounts = ids(aws)
    assert {r["account"] for r in doc["launch_roles"]} == {"management", *SHARED}
    for name in ["management", *SHARED]:
        iam = aws.client("iam", None if name == "management" else accounts[name])
        role = iam.get_role(RoleName="ServiceCatalogLaunchRole")["Role"]
        trust = role["AssumeRolePolicyDocument"]
        trust = json.loads(trust) if isinstance(trust, str) else trust
        assert trust["Statement"][0]["Principal"] == {"Service": "servicecatalog.amazonaws.com"}
        policy = iam.get_role_policy(RoleName="ServiceCatalogLaunchRole", PolicyName="launch-products")
        statements = policy["PolicyDocument"]["Statement"]
        for st in statements:
            actions = st["Action"] if isinstance(st["Action"], list) else [st["Action"]]
            assert "*" not in actions and not any(a.endswith(":*") for a in actions), st
            if st["Resource"] == "*":  # only actions without resource-level permissions, or a condition
                assert st.get("Condition") or set(actions) <= {"cloudformation:ValidateTemplate",
                                                               "cloudformation:GetTemplateSummary"}, st
    for name in NOT_SHARED:  # no end user launches there: no role
        with pytest.raises(Exception, match="NoSuchEntity|cannot be found"):
            aws.client("iam", accounts[name]).get_role(RoleName="ServiceCatalogLaunchRole")
    sc = aws.client("servicecatalog")
    constraints = sc.list_constraints_for_portfolio(PortfolioId=doc["portfolio_id"])["ConstraintDetails"]
    assert [c["Type"] for c in constraints] == ["LAUNCH"]
    params = json.loads(sc.describe_constraint(Id=constraints[0]["ConstraintId"])["ConstraintParameters"])
    assert params == {"LocalRoleName": "ServiceCatalogLaunchRole"}


def test_principals_shares_acceptance_and_tag_options(aws, tmp_path):
    bundle = snapshot(aws, fleet_repo(tmp_path))
    doc = stage.publish(aws, bundle)
    sc = aws.client("servicecatalog")
    pid = doc["portfolio_id"]
    principals = sc.list_principals_for_portfolio(PortfolioId=pid)["Principals"]
    assert [(p["PrincipalARN"], p["PrincipalType"]) for p in principals] == [
        ("arn:aws:iam:::role/Developer", "IAM_PATTERN")]
    shares = sc.describe_portfolio_shares(PortfolioId=pid, Type="ORGANIZATIONAL_UNIT")["PortfolioShareDetails"]
    assert [(s["PrincipalId"], s["SharePrincipals"]) for s in shares] == [(org(aws).ou_id("Workloads"), True)]
    accounts = ids(aws)
    assert sorted(a["account"] for a in doc["accepted"]) == sorted(SHARED)
    for name in SHARED:
        accepted = aws.client("servicecatalog", accounts[name]).list_accepted_portfolio_shares(
            PortfolioShareType="AWS_ORGANIZATIONS")["PortfolioDetails"]
        assert [p["Id"] for p in accepted] == [pid], name
    tags = {(t["Key"], t["Value"]) for t in sc.describe_portfolio(Id=pid)["TagOptions"]}
    assert tags == {("fleet:cost-center", "platform"), ("fleet:cost-center", "shared")}


def test_end_user_smoke_test_launches_checks_and_terminates(aws, tmp_path):
    bundle = snapshot(aws, fleet_repo(tmp_path))
    doc = stage.publish(aws, bundle)
    canary = ids(aws)["canary-01"]
    result = stage.smoke_test(aws, bundle, doc, log=lambda _: None)
    assert result["ok"], result["failed"]
    assert result["principal"] == f"arn:aws:iam::{canary}:role/Developer" and result["principal_created"]
    checks = {c["name"]: c["ok"] for c in result["results"][0]["checks"]}
    assert checks == {"role/Developer in canary-01 is offered the product": True, "provisioned": True,
                      "launched with the account's own launch role": True, "bucket encrypted with KMS": True,
                      "bucket versioning enabled": True, "public access blocked": True, "terminated": True}
    # Nothing is left behind: no provisioned product, no stack, no bucket.
    bucket = result["results"][0]["outputs"]["BucketName"]
    assert bucket not in {b["Name"] for b in aws.client("s3", canary).list_buckets()["Buckets"]}
    live = [s for s in aws.client("cloudformation", canary).list_stacks()["StackSummaries"]
            if s["StackName"].startswith("SC-") and s["StackStatus"] != "DELETE_COMPLETE"]
    assert live == []
    # Run it again (the role exists now): the same verdict.
    again = stage.smoke_test(aws, bundle, doc, log=lambda _: None)
    assert again["ok"] and not again["principal_created"]


def test_smoke_test_catches_a_product_that_breaks_its_promise(aws, tmp_path):
    repo = fleet_repo(tmp_path)
    path = repo / "templates" / "products" / "encrypted-bucket.yaml"
    path.write_text(path.read_text().replace("      VersioningConfiguration: {Status: Enabled}\n", ""))
    commit(repo, "oops: no versioning")
    bundle = snapshot(aws, repo)
    doc = stage.publish(aws, bundle)
    result = stage.smoke_test(aws, bundle, doc, log=lambda _: None)
    assert not result["ok"]
    assert [f.split(" (")[0] for f in result["failed"]] == ["encrypted-bucket: bucket versioning enabled"]


def test_a_changed_launch_role_replaces_the_constraint(aws, tmp_path):
    bundle = snapshot(aws, fleet_repo(tmp_path))
    doc = stage.publish(aws, bundle)
    sc = aws.client("servicecatalog")
    pid, product = doc["portfolio_id"], doc["products"][0]["product_id"]
    assert catalog.ensure_launch_constraint(sc, pid, product, "ServiceCatalogLaunchRole") == "unchanged"
    assert catalog.ensure_launch_constraint(sc, pid, product, "OtherLaunchRole") == "replaced"
    constraints = sc.list_constraints_for_portfolio(PortfolioId=pid)["ConstraintDetails"]
    assert len(constraints) == 1
    assert json.loads(sc.describe_constraint(Id=constraints[0]["ConstraintId"])["ConstraintParameters"]) == {
        "LocalRoleName": "OtherLaunchRole"}
