"""The account_fleet_pipeline DAG end to end on local AWS, read back through the AWS APIs."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from fleet import approval, source
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.config import load_config

from tests.support import REPO
from tests.support.dags import Approver, run_dag

pytestmark = pytest.mark.e2e
FLEET = load_config(REPO / "include" / "fleet.yaml")
STACK = "fleet-security-baseline"


def ctx() -> AwsContext:
    return AwsContext.from_environment("us-east-1")


def accounts_by_name() -> dict[str, str]:
    return {a.name: a.id for a in read_org(ctx(), with_tags=False).accounts}


def stack(account_id: str) -> dict | None:
    """The baseline stack as deployed; a planned-only stack (REVIEW_IN_PROGRESS) counts as none."""
    cfn = ctx().client("cloudformation", account_id)
    try:
        found = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
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


def test_pipeline_end_to_end_then_idempotent_rerun(fleet_env, fleet_dag):
    state, tasks = run_dag(fleet_dag, approver=Approver())
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
    # accounts outside the environments are never touched
    for name in ("audit", "log-archive", "shared-network"):
        assert stack(ids[name]) is None, name
    versions = catalog_versions()
    assert len(versions) == 1
    snap = source.snapshot(REPO / "include")
    assert versions[0]["Name"].endswith(snap.digest[:12])
    sc = ctx().client("servicecatalog")
    portfolio = [p for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == "Shared Services"]
    shares = sc.describe_portfolio_shares(PortfolioId=portfolio[0]["Id"], Type="ORGANIZATIONAL_UNIT")
    assert [s["PrincipalId"] for s in shares["PortfolioShareDetails"]] == [
        read_org(ctx(), with_tags=False).ou_id("Workloads")]

    # The same bundle again: everything is already there, nothing is created twice, and the empty
    # plan is approved automatically (no human asked).
    state, tasks = run_dag(fleet_dag, approver=Approver())
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


def git_repo_with_secret(tmp_path: Path) -> Path:
    repo = tmp_path / "fleet-repo"
    shutil.copytree(REPO / "include", repo)
    key = "AKIA" + "QYLPMN5HHHFPZAM2"  # split so this test file is not itself a finding
    (repo / "templates" / "notes.txt").write_text(f"aws_access_key_id = {key}\n")
    for cmd in (["init", "-q", "-b", "main"], ["add", "-A"],
                ["-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "fleet"]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True)
    return repo


def test_planted_secret_fails_build_and_nothing_is_deployed(fleet_env, fleet_dag, tmp_path):
    repo = git_repo_with_secret(tmp_path)
    state, tasks = run_dag(fleet_dag, conf={"fleet_repo": str(repo)})
    assert state == "failed"
    assert tasks["build.gates"] == "failed"
    assert tasks["beta.deploy"] in {"upstream_failed", "skipped"}
    ids = accounts_by_name()
    assert all(stack(ids[a.name]) is None for a in FLEET.accounts)
    findings = json.loads(ctx().client("s3").get_object(
        Bucket=source.artifacts_bucket("123456789012", "us-east-1"),
        Key=f"bundles/{source.snapshot(repo).digest}/findings.json")["Body"].read())
    assert any(f["gate"] == "secrets" and f["file"] == "templates/notes.txt" for f in findings["findings"])
    assert "QYLPMN5HHHFPZAM2" not in json.dumps(findings)


def test_rejected_approval_leaves_prod_untouched(fleet_env, fleet_dag):
    approver = Approver(approve=False, reason="change freeze")
    state, tasks = run_dag(fleet_dag, approver=approver)
    assert state == "failed"
    assert tasks["prod.approval"] == "failed"
    assert tasks["gamma.integration_tests"] == "success"
    ids = accounts_by_name()
    assert stack(ids["beta-test"]) is not None
    assert all(stack(ids[name]) is None for name in prod_names())
    store = approval.S3Store(ctx(), source.artifacts_bucket("123456789012", "us-east-1"))
    records = store.list(approval.decisions_prefix(approver.run_id))
    assert [store.get(k)["decision"] for k in records] == ["reject"]
    sc = ctx().client("servicecatalog")
    assert [v for v in sc.search_products_as_admin()["ProductViewDetails"]
            if v["ProductViewSummary"]["Owner"] != "AWS Control Tower"] == []  # only the Account Factory


def test_dry_run_plans_but_deploys_nothing(fleet_env, fleet_dag):
    state, tasks = run_dag(fleet_dag, conf={"dry_run": True})
    assert state == "success", tasks
    assert tasks["build.gates"] == "success" and tasks["prod.plan"] == "success"
    assert tasks["beta.deploy"] == "skipped" and tasks["prod.approval"] == "skipped"
    assert tasks["prod.rollout"] == "skipped" and tasks["prod.service_catalog"] == "skipped"
    ids = accounts_by_name()
    # (A plan of a new stack is a CREATE change set, which AWS holds in an empty REVIEW_IN_PROGRESS stack.)
    assert all(stack(ids[a.name]) is None for a in FLEET.accounts)
    plans = ctx().client("s3").list_objects_v2(Bucket=source.artifacts_bucket("123456789012", "us-east-1"),
                                               Prefix="plans/")["Contents"]
    plan = json.loads(ctx().client("s3").get_object(Bucket=source.artifacts_bucket("123456789012", "us-east-1"),
                                                    Key=plans[0]["Key"])["Body"].read())
    assert plan["summary"].startswith("8 accounts: 8 change") and not plan["empty"]
    assert {r["account_name"] for r in plan["accounts"]} == set(prod_names())
    assert all(r["adds"] == 8 and r["iam_changes"] == 1 for r in plan["accounts"])


def test_secret_in_history_fails_build_and_only_fleet_cleanse_purges_the_remote(fleet_env, fleet_dag, tmp_path,
                                                                                 capsys):
    git = lambda cwd, *a: subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.com",  # noqa: E731
                                          "-c", "user.name=t", *a], check=True, capture_output=True, text=True)
    repo = git_repo_with_secret(tmp_path)
    (repo / "templates" / "notes.txt").unlink()  # gone from the tree, still in history
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "remove the key")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))

    # Whoever triggers a run cannot have history rewritten (the old cleanse_history Param, in the conf).
    state, tasks = run_dag(fleet_dag, conf={"fleet_repo": str(repo), "cleanse_history": True})
    assert state == "failed" and tasks["build.gates"] == "failed"
    assert "cleanse_history" not in fleet_dag.params
    bucket = source.artifacts_bucket("123456789012", "us-east-1")
    digest = source.snapshot(repo).digest
    doc = json.loads(ctx().client("s3").get_object(Bucket=bucket, Key=f"bundles/{digest}/findings.json")["Body"].read())
    history = [f for f in doc["findings"] if f["gate"] == "secrets" and f["commit"]]
    assert history and history[0]["file"] == "templates/notes.txt"
    assert doc["purge_plan"].endswith("/purge-plan.json") and "cleansed" not in doc
    assert "QYLPMN5HHHFPZAM2" in git(remote, "log", "--all", "-p").stdout  # the trigger pushed nothing

    from fleet import cli

    capsys.readouterr()
    assert cli.main(["cleanse", str(remote)]) == 1  # shows the fresh scan's findings, pushes nothing
    shown = capsys.readouterr()
    assert "templates/notes.txt@" in shown.out and "--yes" in shown.err
    assert "QYLPMN5HHHFPZAM2" in git(remote, "log", "--all", "-p").stdout
    assert cli.main(["cleanse", str(remote), "--yes"]) == 0
    assert '"remaining_findings": 0' in capsys.readouterr().out
    # The remote's history no longer holds the key on any ref.
    log = git(remote, "log", "--all", "-p").stdout
    assert "QYLPMN5HHHFPZAM2" not in log and "notes.txt" in log
    assert cli.main(["cleanse", str(remote)]) == 0  # a fresh scan finds nothing left


def test_a_failing_first_wave_halts_the_rollout_and_the_report_names_every_account(fleet_env, fleet_dag):
    # A real CloudFormation failure: a role of the same name already exists in the canary prod account.
    ids = accounts_by_name()
    ctx().client("iam", ids["app-prod-01"]).create_role(RoleName="fleet-audit", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    state, tasks = run_dag(fleet_dag, approver=Approver())
    assert state == "failed" and tasks["prod.rollout"] == "failed"
    assert tasks["prod.service_catalog"] == "upstream_failed"
    assert all(stack(ids[n]) is None for n in prod_names()[1:])  # later waves untouched
    bucket = source.artifacts_bucket("123456789012", "us-east-1")
    key = next(o["Key"] for o in ctx().client("s3").list_objects_v2(Bucket=bucket, Prefix="reports/")["Contents"]
               if o["Key"].endswith("report.json"))
    doc = json.loads(ctx().client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    prod = {row["account"]: row for row in doc["stages"]["prod"]["accounts"]}
    assert set(prod) == set(prod_names())
    assert prod["app-prod-01"]["status"] == "failed" and "fleet-audit" in prod["app-prod-01"]["detail"]
    assert {prod[n]["status"] for n in prod_names()[1:]} == {"not started"}
