"""fleet.drift: the sweep over the fleet, its report, and the fleet_drift DAG (one run end to end)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from fleet import drift, stacks
from fleet.config import load_config
from tests.support import aws_connection

REPO = Path(__file__).resolve().parents[2]
FLEET = load_config(REPO / "include" / "fleet.yaml")
BUCKET = "fleet-artifacts-123456789012-us-east-1"
BASELINE = (REPO / "include" / "templates" / "security-baseline.yaml").read_text()


def test_fleet_sweep_over_several_accounts_reports_each_stack(ctx, deploy):
    deployed = deploy(["canary-01", "canary-02", "app-prod-01", "app-prod-02"])
    ctx.client("s3", deployed["canary-02"].account_id).delete_public_access_block(
        Bucket=deployed["canary-02"].outputs["AuditBucketName"])
    ctx.client("sns", deployed["app-prod-01"].account_id).delete_topic(
        TopicArn=deployed["app-prod-01"].outputs["AlertsTopicArn"])

    sleeps: list[float] = []
    report = drift.detect_fleet(ctx, FLEET, max_concurrent=4, run_id="scheduled__2026-11-28T05:00:00+00:00",
                                sleep=sleeps.append)
    s = report["summary"]
    assert (s["stacks"], s["drifted"], s["in_sync"], s["unknown"], s["drifted_resources"]) == (4, 2, 2, 0, 2)
    assert s["accounts_without_stack"] == len(FLEET.accounts) + 1 - 4  # members plus the management account
    assert sleeps == []  # local detections complete at once
    rows = {r["account_name"]: r for r in report["stacks"]}
    assert [r["account_name"] for r in report["stacks"][:2]] == ["app-prod-01", "canary-02"]  # drift first
    assert rows["canary-02"]["resources"] == [{
        "logical_id": "AuditBucket", "physical_id": deployed["canary-02"].outputs["AuditBucketName"],
        "type": "AWS::S3::Bucket", "status": "MODIFIED", "differences": [{
            "path": "/PublicAccessBlockConfiguration", "type": "REMOVE", "actual": "null",
            "expected": json.dumps({"BlockPublicAcls": "true", "BlockPublicPolicy": "true",
                                    "IgnorePublicAcls": "true", "RestrictPublicBuckets": "true"}, sort_keys=True)}]}]
    assert [(x["logical_id"], x["status"]) for x in rows["app-prod-01"]["resources"]] == [("AlertsTopic", "DELETED")]
    assert rows["canary-01"]["resource_counts"] == {"IN_SYNC": 6} and rows["canary-01"]["baseline"] == "security-baseline"

    ctx.client("s3").create_bucket(Bucket=BUCKET)
    where = drift.write_report(ctx, FLEET, report, "scheduled__2026-11-28T05:00:00+00:00")
    prefix = "drift/scheduled__2026-11-28T05_00_00+00_00/"
    assert where == {"json": f"s3://{BUCKET}/{prefix}report.json", "txt": f"s3://{BUCKET}/{prefix}report.txt"}
    s3 = ctx.client("s3")
    stored = json.loads(s3.get_object(Bucket=BUCKET, Key=prefix + "report.json")["Body"].read())
    assert stored["summary"] == report["summary"] and len(stored["stacks"]) == 4
    text = s3.get_object(Bucket=BUCKET, Key=prefix + "report.txt")["Body"].read().decode()
    assert text.startswith("4 baseline stacks: 2 drifted, 2 in sync, 0 could not be checked")
    assert "DELETED  AlertsTopic (AWS::SNS::Topic)" in text and "REMOVE /PublicAccessBlockConfiguration" in text
    assert "canary-01" not in text  # in-sync stacks are only counted

    summary = drift.xcom_summary(report, where, limit=1)
    assert summary["drifted"] == 2 and len(summary["not_in_sync"]) == 1 and summary["not_in_sync_omitted"] == 1


def test_an_account_that_cannot_be_checked_is_unknown_and_does_not_hide_the_others(ctx, deploy, monkeypatch):
    from fleet.aws import AccessError

    deployed = deploy(["canary-01", "canary-02"])
    broken = deployed["canary-02"].account_id
    real_client = type(ctx).client

    def client(self, service, account_id=None, region=None):
        if account_id == broken:
            raise AccessError(f"cannot assume arn:aws:iam::{broken}:role/OrganizationAccountAccessRole")
        return real_client(self, service, account_id, region)

    # A dry run's plan leaves a stack in REVIEW_IN_PROGRESS with nothing deployed: not a baseline stack yet.
    planned = stacks.plan(ctx, stacks.StackTarget(_account(ctx, "app-prod-03"), "app-prod-03", "us-east-1",
                                                  "fleet-security-baseline", BASELINE), "e" * 64)
    assert planned.status == "ready"
    monkeypatch.setattr(type(ctx), "client", client)
    report = drift.detect_fleet(ctx, FLEET)
    rows = {r["account_name"]: r for r in report["stacks"]}
    assert set(rows) == {"canary-01", "canary-02"}
    assert rows["canary-02"]["status"] == "UNKNOWN" and "cannot assume" in rows["canary-02"]["error"]
    assert rows["canary-01"]["status"] == "IN_SYNC"
    assert "could not be checked" in drift.to_text(report) and "canary-02" in drift.to_text(report)


def test_polling_waits_with_the_injected_sleep_and_gives_up_on_the_injected_clock(ctx, deploy, monkeypatch):
    from localaws.drift import DriftExtension

    r = deploy(["canary-01"])["canary-01"]
    target = stacks.StackTarget(r.account_id, "canary-01", "us-east-1", "fleet-security-baseline", "")
    monkeypatch.setattr(DriftExtension, "polls_in_progress", 3)
    sleeps: list[float] = []
    row = drift.detect_one(ctx, target, poll=7, sleep=sleeps.append, clock=lambda: 0.0)
    assert (row["status"], sleeps) == ("IN_SYNC", [7, 7, 7])

    now = iter(range(0, 10_000, 400))
    row = drift.detect_one(ctx, target, timeout=900, sleep=lambda s: None, clock=lambda: next(now))
    assert row["status"] == "UNKNOWN" and "still running after 900s" in row["error"]


def _account(ctx, name: str) -> str:
    from fleet.org import read_org

    return next(a.id for a in read_org(ctx, with_tags=False).accounts if a.name == name)


class _FakeCfn:
    """A CloudFormation client whose detection fails part-way, as the API reference allows."""

    def __init__(self, stack_status: str):
        self.stack_status = stack_status

    def describe_stacks(self, StackName):
        return {"Stacks": [{"StackName": StackName, "StackStatus": "UPDATE_COMPLETE"}]}

    def detect_stack_drift(self, StackName):
        return {"StackDriftDetectionId": "d-1"}

    def describe_stack_drift_detection_status(self, StackDriftDetectionId):
        return {"DetectionStatus": "DETECTION_FAILED", "StackDriftStatus": self.stack_status,
                "DetectionStatusReason": "Failed to detect drift on resource [Thing]"}

    def describe_stack_resource_drifts(self, StackName, MaxResults, NextToken=None):
        items = [{"LogicalResourceId": f"R{i}", "ResourceType": "AWS::S3::Bucket",
                  "StackResourceDriftStatus": "MODIFIED" if i == 0 and self.stack_status == "DRIFTED" else "IN_SYNC"}
                 for i in range(3)]
        page = int(NextToken or 0)
        return {"StackResourceDrifts": items[page:page + 2], **({"NextToken": "2"} if page == 0 else {})}


def test_a_failed_detection_keeps_the_drift_it_found_and_otherwise_is_unknown():
    target = stacks.StackTarget("111111111111", "x", "us-east-1", "fleet-security-baseline", "")
    for stack_status, expected in (("DRIFTED", "DRIFTED"), ("IN_SYNC", "UNKNOWN")):
        ctx = SimpleNamespace(client=lambda *a, _s=stack_status, **k: _FakeCfn(_s))
        row = drift.detect_one(ctx, target, sleep=lambda s: None)
        assert row["status"] == expected and "Failed to detect drift" in row["error"]
        assert sum(row["resource_counts"].values()) == 3  # every page read


@pytest.mark.e2e
def test_fleet_drift_dag_succeeds_in_sync_fails_on_drift_and_can_only_record(ctx, deploy, aws_server, airflow_db,
                                                                           monkeypatch):
    """One DAG run (the drifted sweep); in sync and record-only through the DAG's own task functions."""
    from airflow.sdk.exceptions import AirflowFailException

    from tests.support.dags import parse_dag, xcom

    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    deployed = deploy(["beta-test", "canary-01"])
    dag = parse_dag("fleet_drift")
    detect, report = dag.get_task("detect").python_callable, dag.get_task("report").python_callable
    params = {"fleet_repo": str(REPO / "include"), "fail_on_drift": True, "max_concurrent": 20}

    # In sync: the report task passes, and the detect task stored both reports under the run id.
    ctx.client("s3").create_bucket(Bucket=BUCKET)  # the artifacts_bucket task's job
    in_sync = "scheduled__2026-11-28T05:00:00+00:00"
    summary = detect(params=params, run_id=in_sync)
    assert (summary["drifted"], summary["unknown"]) == (0, 0)
    assert report(summary, params=params) is None
    keys = [o["Key"] for o in ctx.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="drift/")["Contents"]]
    assert sorted(keys) == [drift.report_prefix(in_sync) + n for n in ("report.json", "report.txt")]

    # Drift: the run fails in its report task, after the report is stored.
    ctx.client("s3", deployed["canary-01"].account_id).put_bucket_encryption(
        Bucket=deployed["canary-01"].outputs["AuditBucketName"], ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    dr = dag.test()
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    assert str(dr.state) == "failed"
    assert states == {"preflight": "success", "artifacts_bucket": "success", "detect": "success", "report": "failed"}
    stored = json.loads(ctx.client("s3").get_object(
        Bucket=BUCKET, Key=drift.report_prefix(dr.run_id) + "report.json")["Body"].read())
    assert stored["summary"]["drifted"] == 1 and stored["stacks"][0]["account_name"] == "canary-01"

    # Record only: the same summary passes the report task with fail_on_drift off, and fails it on.
    drifted = xcom(dr, "detect")
    assert report(drifted, params={**params, "fail_on_drift": False}) is None
    with pytest.raises(AirflowFailException, match="1 drifted"):
        report(drifted, params=params)
