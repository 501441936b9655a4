"""Drift detection: the local CloudFormation drift APIs, the fleet sweep, and the fleet_drift DAG."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from fleet import drift, stacks
from fleet.org import read_org
from fleet.spec import load_fleet
from tests.support import aws_connection

REPO = Path(__file__).resolve().parents[2]
FLEET = load_fleet(REPO / "include" / "fleet.yaml")
BASELINE = (REPO / "include" / "templates" / "security-baseline.yaml").read_text()


@pytest.fixture
def ctx(seeded_fleet):
    return seeded_fleet


def deploy(ctx, names: list[str]) -> dict[str, stacks.DeployResult]:
    ids = {a.name: a.id for a in read_org(ctx, with_tags=False).accounts}
    out = {}
    for n in names:
        t = stacks.StackTarget(ids[n], n, "us-east-1", "fleet-security-baseline", BASELINE,
                               {"ManagementAccountId": "123456789012"})
        out[n] = stacks.deploy(ctx, t, "d" * 64)
        assert out[n].status == "created"
    return out


def test_in_sync_then_modified_then_deleted_per_the_api_reference(ctx):
    r = deploy(ctx, ["beta-test"])["beta-test"]
    cfn = ctx.client("cloudformation", r.account_id)
    detection = cfn.detect_stack_drift(StackName=r.stack_name)["StackDriftDetectionId"]
    status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
    assert (status["DetectionStatus"], status["StackDriftStatus"], status["DriftedStackResourceCount"]) == (
        "DETECTION_COMPLETE", "IN_SYNC", 0)
    kinds = {d["LogicalResourceId"]: d["StackResourceDriftStatus"]
             for d in cfn.describe_stack_resource_drifts(StackName=r.stack_name)["StackResourceDrifts"]}
    assert kinds["AuditBucket"] == kinds["BaselineKey"] == kinds["AuditRole"] == "IN_SYNC"
    assert kinds["BaselineKeyAlias"] == "NOT_CHECKED"  # a type without drift support, as on AWS

    s3 = ctx.client("s3", r.account_id)
    s3.put_bucket_encryption(Bucket=r.outputs["AuditBucketName"], ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
    ctx.client("kms", r.account_id).disable_key_rotation(KeyId=r.outputs["KeyArn"])
    detection = cfn.detect_stack_drift(StackName=r.stack_name)["StackDriftDetectionId"]
    status = cfn.describe_stack_drift_detection_status(StackDriftDetectionId=detection)
    assert status["StackDriftStatus"] == "DRIFTED" and status["DriftedStackResourceCount"] == 2
    modified = {d["LogicalResourceId"]: d for d in cfn.describe_stack_resource_drifts(
        StackName=r.stack_name, StackResourceDriftStatusFilters=["MODIFIED"])["StackResourceDrifts"]}
    assert set(modified) == {"AuditBucket", "BaselineKey"}
    sse = [p for p in modified["AuditBucket"]["PropertyDifferences"] if p["PropertyPath"].endswith("/SSEAlgorithm")]
    assert sse == [{"PropertyPath": "/BucketEncryption/ServerSideEncryptionConfiguration/0/"
                    "ServerSideEncryptionByDefault/SSEAlgorithm", "ExpectedValue": "aws:kms",
                    "ActualValue": "AES256", "DifferenceType": "NOT_EQUAL"}]
    assert json.loads(modified["BaselineKey"]["ActualProperties"])["EnableKeyRotation"] is False

    ctx.client("sns", r.account_id).delete_topic(TopicArn=r.outputs["AlertsTopicArn"])
    cfn.detect_stack_drift(StackName=r.stack_name)
    deleted = cfn.describe_stack_resource_drifts(StackName=r.stack_name, StackResourceDriftStatusFilters=["DELETED"])
    assert [d["LogicalResourceId"] for d in deleted["StackResourceDrifts"]] == ["AlertsTopic"]


def test_unknown_stack_and_detection_are_validation_errors(ctx):
    cfn = ctx.client("cloudformation")
    for call in (lambda: cfn.detect_stack_drift(StackName="nope"),
                 lambda: cfn.describe_stack_drift_detection_status(StackDriftDetectionId="no-such-id")):
        with pytest.raises(cfn.exceptions.ClientError) as err:
            call()
        assert err.value.response["Error"]["Code"] == "ValidationError"


def test_fleet_sweep_finds_the_one_drifted_account_and_writes_a_report(ctx):
    deployed = deploy(ctx, ["canary-01", "canary-02", "app-prod-01"])
    ctx.client("s3", deployed["canary-02"].account_id).delete_public_access_block(
        Bucket=deployed["canary-02"].outputs["AuditBucketName"])
    report = drift.detect_fleet(ctx, FLEET, sleep=lambda s: None)
    assert (report["stacks"], report["drifted"][0]["account_name"], report["in_sync"]) == (3, "canary-02", 2)
    assert [res["logical_id"] for res in report["drifted"][0]["resources"]] == ["AuditBucket"]
    ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
    where = drift.write_report(ctx, FLEET, report, "manual__1")
    assert where == "s3://fleet-artifacts-123456789012-us-east-1/drift/manual__1/report.json"
    assert "canary-02/us-east-1" in drift.to_text(report)


def test_fleet_drift_dag_passes_in_sync_and_fails_on_drift(ctx, aws_server, monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
    deployed = deploy(ctx, ["beta-test"])
    dag = DagBag(str(REPO / "dags")).get_dag("fleet_drift")
    assert str(dag.test().state) == "success"
    ctx.client("kms", deployed["beta-test"].account_id).disable_key_rotation(KeyId=deployed["beta-test"].outputs["KeyArn"])
    dag = DagBag(str(REPO / "dags")).get_dag("fleet_drift")
    run = dag.test()
    states = {ti.task_id: str(ti.state) for ti in run.get_task_instances()}
    assert str(run.state) == "failed" and states == {"detect": "success", "verdict": "failed"}
