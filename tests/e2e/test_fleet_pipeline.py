"""The account_fleet_pipeline DAG end to end on local AWS, read back through the AWS APIs: the happy
path and its idempotent rerun, kept as DAG runs. The failure and dry-run cases run
the same stages and task functions without a DAG run (tests/stages/test_pipeline_cases.py)."""

from __future__ import annotations

import functools
import os

import pytest

from fleet import source
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.config import load_config

from tests.support import REPO
from tests.support.bundles import fleet_repo
from tests.support.dags import Approver, run_dag

pytestmark = pytest.mark.e2e
FLEET = load_config(REPO / "include" / "fleet.yaml")
STACK = "fleet-security-baseline"


def ctx() -> AwsContext:
    """One context per local AWS endpoint: its clients and assumed-role credentials are cached, and
    the checks below look into a dozen accounts (a new context per look cost about a minute)."""
    return _context(os.environ["AWS_ENDPOINT_URL"])


@functools.cache
def _context(endpoint_url: str) -> AwsContext:
    return AwsContext.from_environment("us-east-1")


def accounts_by_name() -> dict[str, str]:
    return {a.name: a.id for a in read_org(ctx(), with_tags=False).accounts}


def stack(account_id: str, name: str = STACK) -> dict | None:
    """The baseline stack as deployed; a planned-only stack (REVIEW_IN_PROGRESS) counts as none."""
    cfn = ctx().client("cloudformation", account_id)
    try:
        found = cfn.describe_stacks(StackName=name)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None
    return None if found["StackStatus"] == "REVIEW_IN_PROGRESS" else found


def prod_names() -> list[str]:
    return [a.name for a in FLEET.accounts_under(["Prod"])]


def catalog_versions() -> list[dict]:
    sc = ctx().client("servicecatalog")
    views = sc.search_products_as_admin(Filters={"FullTextSearch": ["encrypted-bucket"]})["ProductViewDetails"]
    assert len(views) == 1, "exactly one encrypted-bucket product"
    pid = views[0]["ProductViewSummary"]["ProductId"]
    return sc.list_provisioning_artifacts(ProductId=pid)["ProvisioningArtifactDetails"]


def test_pipeline_end_to_end_then_idempotent_rerun(fleet_env, fleet_dag, tmp_path):
    # The sample fleet in a git repository of its own: the secrets gate scans the source repository's
    # whole history (every ref), and the project's own repository holds whatever its branches hold.
    # Decided with `fleet approve` from a thread (the CLI path); the UI path has tests of its own.
    conf = {"fleet_repo": str(fleet_repo(tmp_path)), "approval_ui": False}
    state, tasks = run_dag(fleet_dag, conf=conf, approver=Approver())
    assert state == "success", tasks
    ids = accounts_by_name()
    deployed = ["beta-test", "canary-01", "canary-02", *prod_names()]
    for name in deployed:
        s = stack(ids[name])
        assert s and s["StackStatus"] == "CREATE_COMPLETE", name
        out = {o["OutputKey"]: o["OutputValue"] for o in s["Outputs"]}
        s3 = ctx().client("s3", ids[name])
        enc = s3.get_bucket_encryption(Bucket=out["AuditBucketName"])["ServerSideEncryptionConfiguration"]
        assert enc["Rules"][0]["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"] == out["KeyArn"]
        assert s3.get_bucket_versioning(Bucket=out["AuditBucketName"])["Status"] == "Enabled"
        assert all(s3.get_public_access_block(Bucket=out["AuditBucketName"])["PublicAccessBlockConfiguration"].values())
        # The network baseline first, its VPC id read by the security baseline in the same account.
        net = stack(ids[name], "fleet-network")
        vpc_id = next(o["OutputValue"] for o in net["Outputs"] if o["OutputKey"] == "VpcId")
        assert {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]}["NetworkVpcId"] == vpc_id, name
    # accounts outside the environments are never touched; shared-network gets the network only
    for name in ("audit", "log-archive", "shared-network"):
        assert stack(ids[name]) is None, name
    assert stack(ids["audit"], "fleet-network") is None and stack(ids["shared-network"], "fleet-network")
    versions = catalog_versions()
    assert len(versions) == 1
    snap = source.snapshot(conf["fleet_repo"])
    assert versions[0]["Name"].endswith(snap.digest[:12])
    sc = ctx().client("servicecatalog")
    portfolio = [p for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == "Shared Services"]
    shares = sc.describe_portfolio_shares(PortfolioId=portfolio[0]["Id"], Type="ORGANIZATIONAL_UNIT")
    assert [s["PrincipalId"] for s in shares["PortfolioShareDetails"]] == [
        read_org(ctx(), with_tags=False).ou_id("Workloads")]

    # The same bundle again: everything is already there, nothing is created twice, and the empty
    # plan is approved automatically (no human asked).
    state, tasks = run_dag(fleet_dag, conf=conf, approver=Approver())
    assert state == "success", tasks
    assert tasks["prod.auto_approve"] == "success" and tasks["prod.approval"] == "skipped"
    assert len(catalog_versions()) == 1
    ours = [p for p in sc.list_portfolios()["PortfolioDetails"] if p["ProviderName"] != "AWS Control Tower"]
    assert len(portfolio) == 1 and len(ours) == 1  # beside Control Tower's Account Factory portfolio
    for name in deployed:
        assert stack(ids[name])["StackStatus"] == "CREATE_COMPLETE", name  # not updated
    reports = ctx().client("s3").list_objects_v2(Bucket=source.artifacts_bucket("123456789012", "us-east-1"),
                                                 Prefix="reports/")["Contents"]
    assert len([r for r in reports if r["Key"].endswith("report.json")]) == 2
