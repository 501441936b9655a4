"""Alerts that fire: SNS messages read back through an SQS subscription, metrics read back from
CloudWatch, all on local AWS; the alerts section of the config."""

from __future__ import annotations

import json
import shutil
import uuid
from types import SimpleNamespace

import pytest

from fleet import alerts, report, source
from fleet.config import Alerts, ConfigError, load_config
from tests.support import REPO, aws_connection


def subscribe(ctx, topic: str) -> str:
    """An SQS queue subscribed (raw delivery off: the SNS envelope keeps the subject) to ``topic``."""
    sqs, sns = ctx.client("sqs"), ctx.client("sns")
    url = sqs.create_queue(QueueName=f"alerts-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=sns.create_topic(Name=topic)["TopicArn"], Protocol="sqs", Endpoint=arn)
    return url


def received(ctx, url: str) -> list[dict]:
    msgs = ctx.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                             WaitTimeSeconds=1).get("Messages", [])
    return [json.loads(m["Body"]) for m in msgs]


def repo_with_topic(tmp_path, topic: str):
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("topic: fleet-alerts ", f"topic: {topic} "))
    return repo


def test_the_sample_config_names_the_alert_topic():
    config = load_config(REPO / "include" / "fleet.yaml")
    assert config.alerts == Alerts(topic="fleet-alerts", metrics_namespace="Fleet", console_url="http://localhost:8080")


def test_a_bad_alert_topic_names_the_file_and_key(tmp_path):
    repo = repo_with_topic(tmp_path, "not a topic!")
    with pytest.raises(ConfigError, match=r"alerts\.topic"):
        load_config(repo / "fleet.yaml")


def test_an_alert_names_run_reason_and_report_link(seeded_fleet):
    ctx, topic = seeded_fleet, f"alerts-{uuid.uuid4().hex[:8]}"
    url = subscribe(ctx, topic)
    config = Alerts(topic=topic, console_url="https://airflow.example.com")
    alerts.publish(ctx, config, "wave_halted", dag_id="account_fleet_pipeline", run_id="manual__1",
                   reason="rollout halted: failed app-prod-03")
    [msg] = received(ctx, url)
    body = json.loads(msg["Message"])
    assert msg["Subject"] == "[fleet] wave halted: account_fleet_pipeline manual__1"
    assert body["reason"] == "rollout halted: failed app-prod-03" and body["run_id"] == "manual__1"
    assert body["report"] == "https://airflow.example.com/fleet/runs/manual__1"
    with pytest.raises(ValueError, match="unknown alert event 'oops'"):
        alerts.publish(ctx, config, "oops", dag_id="d", run_id="r", reason="x")


def test_a_failed_pipeline_run_sends_one_message_naming_the_failing_stage(seeded_fleet, aws_server, monkeypatch,
                                                                          tmp_path):
    from fleet_airflow.alerts import FleetFailureNotifier

    ctx, topic = seeded_fleet, f"alerts-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    repo = repo_with_topic(tmp_path, topic)
    config = load_config(repo / "fleet.yaml")
    bucket = source.artifacts_bucket(config.organization.management_account, config.organization.home_region)
    try:
        ctx.client("s3").create_bucket(Bucket=bucket)
    except ctx.client("s3").exceptions.BucketAlreadyOwnedByYou:
        pass
    run_id = f"manual__{uuid.uuid4().hex[:8]}"
    doc = report.build(run_id, {"bucket": bucket, "digest": "f" * 64}, {"build": {"status": "failed"}})
    doc["failures"] = [{"stage": "build", "task": "build.gates", "state": "failed",
                        "reason": "build gates found 2 error(s); nothing is deployed"},
                       {"stage": "prod", "task": "prod.plan", "state": "upstream_failed", "reason": "not run"}]
    report.store(ctx, doc)
    url = subscribe(ctx, topic)
    notifier = FleetFailureNotifier(aws_conn_id="aws_default")
    notifier.notify({"dag": SimpleNamespace(dag_id="account_fleet_pipeline"), "run_id": run_id,
                     "reason": "task_failure", "params": {"fleet_repo": str(repo)}})
    [msg] = received(ctx, url)
    body = json.loads(msg["Message"])
    assert body["event"] == "run_failed" and body["run_id"] == run_id
    assert body["reason"] == "build stage, task build.gates: build gates found 2 error(s); nothing is deployed"
    assert body["report"].endswith(f"/fleet/runs/{run_id}")


def test_a_failed_run_of_another_dag_falls_back_to_airflows_reason(seeded_fleet, aws_server, monkeypatch, tmp_path):
    from fleet_airflow.alerts import FleetFailureNotifier

    ctx, topic = seeded_fleet, f"alerts-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    repo = repo_with_topic(tmp_path, topic)
    url = subscribe(ctx, topic)
    # Called as Airflow calls a callback; the context's DAG has no template environment (as under
    # `airflow dags test`, whose context holds a SerializedDAG): nothing needs one.
    FleetFailureNotifier(aws_conn_id="aws_default")(
        {"dag": SimpleNamespace(dag_id="fleet_drift"), "run_id": "scheduled__x", "reason": "task_failure",
         "ti": SimpleNamespace(task_id="report"), "params": {"fleet_repo": str(repo)}})
    [msg] = received(ctx, url)
    body = json.loads(msg["Message"])
    assert body["reason"] == "the run failed (task_failure); last task report"
    assert body["report"].endswith("/dags/fleet_drift/runs/scheduled__x")


def test_an_alert_that_cannot_be_sent_does_not_raise(monkeypatch, tmp_path):
    from fleet_airflow.alerts import FleetFailureNotifier

    FleetFailureNotifier().notify({"dag": SimpleNamespace(dag_id="d"), "run_id": "r",
                                   "params": {"fleet_repo": str(tmp_path / "nowhere")}})


def test_approval_overdue_at_half_its_timeout():
    from datetime import datetime, timezone

    now = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    assert not alerts.approval_overdue("2026-12-01T00:00:00+00:00", 24, now)
    assert alerts.approval_overdue("2026-12-01T00:00:00+00:00", 23, now)


def test_fleet_metrics_reach_cloudwatch(seeded_fleet):
    ctx = seeded_fleet
    namespace = f"Fleet-{uuid.uuid4().hex[:8]}"
    sent = alerts.put_metrics(ctx, Alerts(metrics_namespace=namespace),
                              statuses={"in_sync": 7, "failed": 1, "behind": 0, "drifted": 0, "never_deployed": 2},
                              rollout_seconds=42.5, drifted_stacks=3)
    assert sent == 7
    listed = ctx.client("cloudwatch").list_metrics(Namespace=namespace)["Metrics"]
    names = {(m["MetricName"], tuple((d["Name"], d["Value"]) for d in m.get("Dimensions", []))) for m in listed}
    assert ("Accounts", (("Status", "in_sync"),)) in names and ("RolloutDuration", ()) in names
    assert ("DriftedStacks", ()) in names
    from datetime import datetime, timedelta, timezone

    now = datetime.now(timezone.utc)
    stats = ctx.client("cloudwatch").get_metric_statistics(
        Namespace=namespace, MetricName="Accounts", Dimensions=[{"Name": "Status", "Value": "in_sync"}],
        StartTime=now - timedelta(minutes=5), EndTime=now + timedelta(minutes=5), Period=60, Statistics=["Maximum"])
    assert [p["Maximum"] for p in stats["Datapoints"]] == [7.0]


def test_rollout_metrics_never_fail_the_rollout(monkeypatch):
    from fleet_airflow import alerts as airflow_alerts

    sent = {}
    monkeypatch.setattr(airflow_alerts, "metrics", lambda ctx, config, **values: sent.update(values))
    airflow_alerts.rollout_metrics(ctx=None, config=SimpleNamespace(), seconds=12.0)  # no AWS at all
    assert sent == {"rollout_seconds": 12.0, "statuses": None}
