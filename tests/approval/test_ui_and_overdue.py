"""An approval waiting past half its timeout publishes one `approval_waiting` alert, whichever path
waits for it (the gate sensor for `fleet approve`, the UI task for Required actions), read back
from local AWS's SNS through an SQS subscription."""

from __future__ import annotations

import json
import time

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskAwaitingInput, TaskDeferred

from fleet import approval
from fleet_airflow.hitl import FleetUIApprovalOperator
from fleet_airflow.sensors import ExternalApprovalSensor
from tests.support.approval import context
from tests.support.bundles import make_bundle

RUN = "manual__2026-11-28T10:00:00+00:00"
APPROVERS = ["platform-lead", "security-lead"]
TINY = 8 / 3600  # an eight-second approval timeout (the request time has whole seconds; CI is slow)


@pytest.fixture
def bundle(aws, tmp_path):
    return make_bundle(aws, tmp_path, "fleet", "365")


@pytest.fixture
def alerts_queue(aws):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="fleet-alerts")["TopicArn"]  # the sample config's alerts.topic
    url = sqs.create_queue(QueueName="on-call")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    return url


def overdue_alerts(aws, url: str) -> list[dict]:
    msgs = aws.client("sqs").receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    bodies = [json.loads(json.loads(m["Body"])["Message"]) for m in msgs.get("Messages", [])]
    return [b for b in bodies if b["event"] == "approval_waiting"]


def gate(bundle) -> ExternalApprovalSensor:
    return ExternalApprovalSensor(
        task_id="approval", bucket=bundle.ref.bucket, region_name="us-east-1",
        pipeline_role="OrganizationAccountAccessRole", bundle_digest=bundle.ref.digest, plan_digest="p" * 64,
        summary="8 accounts: 8 change", approvers=APPROVERS, timeout_hours=TINY, store="s3",
        table="fleet-approvals-test", topic="fleet-approvals", poll_interval=0.05)


def test_the_gate_alerts_once_half_way_then_fails_closed(aws, bundle, alerts_queue):
    with pytest.raises(TaskDeferred) as first:
        gate(bundle).execute(context(RUN))
    assert overdue_alerts(aws, alerts_queue) == []  # not yet: the first wait ends half-way
    time.sleep(first.value.trigger.timeout_seconds)
    with pytest.raises(TaskDeferred) as rest:
        gate(bundle).execute_complete(context(RUN), {"status": "timeout"})
    with pytest.raises(TaskDeferred):  # another wake-up (a record that does not count): no second alert
        gate(bundle).execute_complete(context(RUN), {"status": "ready"})
    [alert] = overdue_alerts(aws, alerts_queue)
    assert alert["run_id"] == RUN and "past half of its" in alert["reason"] and "platform-lead" in alert["reason"]
    assert alert["report"].endswith("/fleet/runs/" + RUN.replace(":", "%3A").replace("+", "%2B"))
    time.sleep(rest.value.trigger.timeout_seconds)
    with pytest.raises(AirflowFailException, match="failing closed"):
        gate(bundle).execute_complete(context(RUN), {"status": "timeout"})


def test_the_ui_task_alerts_half_way_and_waits_again_for_the_rest(aws, bundle, alerts_queue):
    def ui_task():
        return FleetUIApprovalOperator(
            task_id="ui_approval", bucket=bundle.ref.bucket, region_name="us-east-1",
            pipeline_role="OrganizationAccountAccessRole", bundle_digest=bundle.ref.digest, plan_digest="p" * 64,
            summary="8 accounts: 8 change", approvers=APPROVERS, timeout_hours=TINY, ui=True,
            settings={"store": "s3", "table": "fleet-approvals-test", "topic": None, "ui": True})

    task = ui_task()
    store = approval.open_store(aws, task._settings(), bundle.ref.bucket)
    approval.request(store, run_id=RUN, bundle_digest=bundle.ref.digest, plan_digest="p" * 64, summary="s",
                     triggered_by="alice", approvers=tuple(APPROVERS))
    first = task._next_wait(store, RUN)
    assert 0 < first.total_seconds() <= 4
    time.sleep(first.total_seconds())
    timeout_event = {"error": "The Human-in-the-loop response timeout has passed", "error_type": "timeout"}
    with pytest.raises(TaskAwaitingInput) as parked:  # the scheduler's sweep resumed it half-way
        ui_task().execute_complete(context(RUN), timeout_event)
    assert 0 < parked.value.timeout.total_seconds() <= 4
    [alert] = overdue_alerts(aws, alerts_queue)
    assert alert["run_id"] == RUN
    time.sleep(parked.value.timeout.total_seconds())
    with pytest.raises(AirflowFailException, match="failing closed"):
        ui_task().execute_complete(context(RUN), timeout_event)
    assert overdue_alerts(aws, alerts_queue) == []


def test_a_ui_answer_from_someone_who_may_not_approve_fails_the_task(aws, bundle):
    task = FleetUIApprovalOperator(
        task_id="ui_approval", bucket=bundle.ref.bucket, region_name="us-east-1",
        pipeline_role="OrganizationAccountAccessRole", bundle_digest=bundle.ref.digest, plan_digest="p" * 64,
        summary="s", approvers=APPROVERS, timeout_hours=24, ui=True,
        settings={"store": "s3", "table": "fleet-approvals-test", "topic": None, "ui": True})
    store = approval.open_store(aws, task._settings(), bundle.ref.bucket)
    answer = {"chosen_options": ["Approve"], "params_input": {"reason": "looks fine"},
              "responded_at": __import__("datetime").datetime.now(), "responded_by_user": {"id": "mallory",
                                                                                         "name": "mallory"}}
    with pytest.raises(AirflowFailException, match="'mallory' is not in approval.approvers"):
        task.execute_complete(context(RUN), answer)
    answer["responded_by_user"] = {"id": "alice", "name": "alice"}
    task.approvers = [*APPROVERS, "alice"]
    with pytest.raises(AirflowFailException, match="triggered this run"):
        task.execute_complete(context(RUN, triggered_by="alice"), answer)
    assert store.list(approval.decisions_prefix(RUN)) == []  # nothing recorded


def test_a_retry_of_the_ui_task_tells_the_approver_an_earlier_answer_was_not_taken():
    from types import SimpleNamespace

    assert FleetUIApprovalOperator._earlier_try_note({"ti": SimpleNamespace(try_number=1)}) == []
    note = "\n".join(FleetUIApprovalOperator._earlier_try_note({"ti": SimpleNamespace(try_number=2)}))
    assert "try 2" in note and "answer again" in note
