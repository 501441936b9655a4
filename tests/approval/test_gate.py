"""The gate as Airflow runs it, without a scheduler: ExternalApprovalSensor (publishes the request
through SNS, decides or defers), ApprovalDecisionTrigger's timeout, and the UI path's record."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from fleet import approval
from fleet_airflow.hitl import FleetUIApprovalOperator
from fleet_airflow.sensors import ExternalApprovalSensor
from fleet_airflow.triggers import ApprovalDecisionTrigger

from tests.support.approval import BUCKET, context

RUN = "manual__2026-11-28T10:00:00+00:00"
BUNDLE, PLAN = "b" * 64, "p" * 64
APPROVERS = ["platform-lead", "security-lead"]
IDENTITIES: list[dict] = []  # set per test by the autouse fixture below


@pytest.fixture(autouse=True)
def identities(approvers):
    IDENTITIES[:] = approvers
    yield
    IDENTITIES.clear()


def sensor(store: str = "s3", timeout_hours: float = 24, approvers=None, **kw) -> ExternalApprovalSensor:
    """The gate, with the approvers' identities as the bundle's config would give them."""
    return ExternalApprovalSensor(
        task_id="approval", bucket=BUCKET, region_name="us-east-1", pipeline_role="OrganizationAccountAccessRole",
        bundle_digest=BUNDLE, plan_digest=PLAN, summary="8 accounts: 8 change", approvers=approvers or IDENTITIES,
        timeout_hours=timeout_hours, store=store, table="fleet-approvals-test", topic="fleet-approvals",
        poll_interval=0.05, **kw)


def the_store(aws, kind: str = "s3"):
    return approval.open_store(aws, {"store": kind, "table": "fleet-approvals-test"}, BUCKET)


def subscribed_queue(aws) -> str:
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="fleet-approvals")["TopicArn"]
    url = sqs.create_queue(QueueName="approvers")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
    return url


@pytest.mark.parametrize("kind", ["s3", "dynamodb"])
def test_request_is_published_once_then_the_sensor_defers(aws, kind):
    queue = subscribed_queue(aws)
    with pytest.raises(TaskDeferred) as deferred:
        sensor(kind).execute(context())
    trigger = deferred.value.trigger
    assert isinstance(trigger, ApprovalDecisionTrigger)
    assert "key" not in json.dumps(trigger.serialize()[1]).lower()  # no secret travels to the triggerer
    assert trigger.store == kind

    with pytest.raises(TaskDeferred):
        sensor(kind).execute(context())  # a retried task: the same request, not published again
    messages = aws.client("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(messages) == 1
    note = json.loads(messages[0]["Body"])
    assert note["Subject"].startswith("fleet-pipeline: approval needed")
    for text in (RUN, BUNDLE, PLAN, "8 accounts: 8 change", f"fleet approve {RUN} --approver", "--key",
                 "--reject", "alice (may not approve this run)"):
        assert text in note["Message"], text
    req = the_store(aws, kind).get(approval.request_key(RUN))
    assert req["notified"]["topic_arn"].endswith(":fleet-approvals") and req["triggered_by"] == "alice"


def test_approval_releases_rejection_fails_with_reason(aws, sign_as):
    with pytest.raises(TaskDeferred):
        sensor().execute(context())
    store = the_store(aws)
    approval.decide(store, run_id=RUN, approver="security-lead", approve=True, reason="reviewed",
                    key=sign_as("security-lead"))
    decision = sensor().execute_complete(context(), {"status": "ready", "value": 1})
    assert decision["approver"] == "security-lead" and decision["decision"] == "approve"

    other = "manual__2026-11-28T11:00:00+00:00"
    with pytest.raises(TaskDeferred):
        sensor().execute(context(other))
    approval.decide(store, run_id=other, approver="platform-lead", approve=False, reason="change freeze",
                    key=sign_as("platform-lead"))
    with pytest.raises(AirflowFailException, match="rejected: reject by platform-lead .*: change freeze"):
        sensor().execute_complete(context(other), {"status": "ready", "value": 1})


def test_ignored_records_are_logged_and_waited_past(aws, sign_as, capsys):
    with pytest.raises(TaskDeferred):
        sensor().execute(context(triggered_by="platform-lead"))
    store = the_store(aws)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="mine",
                    key=sign_as("platform-lead"))
    approval.decide(store, run_id=RUN, approver="mallory", approve=True, reason="",
                    key=sign_as("mallory"))
    capsys.readouterr()
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute_complete(context(triggered_by="platform-lead"), {"status": "ready", "value": 2})
    assert deferred.value.trigger.seen == 2  # wakes only for a third record
    logged = "".join(capsys.readouterr())  # the task logger writes to the console outside a task runner
    assert "Ignored approval record" in logged and "segregation of duties" in logged
    assert "'mallory' is not in approval.approvers" in logged


def test_no_decision_before_the_timeout_fails_closed(aws):
    tiny = 8 / 3600  # eight seconds: the request time has whole seconds, and a loaded CI machine is slow
    with pytest.raises(TaskDeferred) as deferred:
        sensor(timeout_hours=tiny).execute(context())
    trigger = deferred.value.trigger
    assert 0 < trigger.timeout_seconds <= 4  # the first wait ends half-way: the overdue alert

    async def first_event():
        async for event in trigger.run():
            return event.payload
    assert asyncio.run(first_event()) == {"status": "timeout"}  # the triggerer's verdict
    with pytest.raises(TaskDeferred) as again:  # half-way: it waits for the rest
        sensor(timeout_hours=tiny).execute_complete(context(), {"status": "timeout"})
    time.sleep(max(0.0, again.value.trigger.timeout_seconds))
    with pytest.raises(AirflowFailException, match="failing closed"):
        sensor(timeout_hours=tiny).execute_complete(context(), {"status": "timeout"})
    with pytest.raises(AirflowFailException, match="failing closed"):  # re-checked on any wake-up
        sensor(timeout_hours=tiny).execute_complete(context(), {"status": "ready", "value": 1})


def test_the_trigger_wakes_on_a_new_record(aws, sign_as):
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute(context())
    trigger = deferred.value.trigger
    approval.decide(the_store(aws), run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))

    async def first_event():
        async for event in trigger.run():
            return event.payload
    assert asyncio.run(first_event()) == {"status": "ready", "value": 1}


def test_request_shows_commit_repo_ref_and_targets(aws):
    with pytest.raises(TaskDeferred):
        sensor(commit="c0ffee" * 6 + "abcd", fleet_repo="https://git.example.com/fleet.git", source_ref="main",
               targets=[{"account_name": "app-prod-01", "region": "us-east-1"},
                        {"account_name": "app-prod-01", "region": "eu-west-1"}, {"account_name": "app-prod-02"}]
               ).execute(context())
    req = the_store(aws).get(approval.request_key(RUN))
    assert req["commit"] == "c0ffee" * 6 + "abcd" and req["source_ref"] == "main"
    assert req["fleet_repo"] == "https://git.example.com/fleet.git"
    assert req["targets"] == ["app-prod-01", "app-prod-02"]
    _, body = approval.request_message(req)
    for text in ("commit:        c0ffee", "fleet repo:    https://git.example.com/fleet.git", "source ref:    main",
                 "targets:       app-prod-01, app-prod-02"):
        assert text in body, text


def test_an_author_of_the_bundle_cannot_approve_a_run_nobody_triggered(aws, sign_as):
    """A scheduled run: no triggering user, so only the authors rule stops self-approval."""
    scheduled = context("scheduled__2026-11-28T10:00:00+00:00", triggered_by=None)
    authors = ["platform-lead@example.com", "dev@example.com"]
    with pytest.raises(TaskDeferred):
        sensor(authors=authors).execute(scheduled)
    approval.decide(the_store(aws), run_id=scheduled["run_id"], approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))
    with pytest.raises(TaskDeferred):  # ignored: still waiting
        sensor(authors=authors).execute_complete(scheduled, {"status": "ready", "value": 1})
    approval.decide(the_store(aws), run_id=scheduled["run_id"], approver="security-lead", approve=True, reason="",
                    key=sign_as("security-lead"))
    decision = sensor(authors=authors).execute_complete(scheduled, {"status": "ready", "value": 2})
    assert decision["approver"] == "security-lead"
    assert any("authored a commit in this bundle" in why for why in decision["ignored"])


def test_a_malformed_record_in_the_store_does_not_crash_the_gate(aws, sign_as):
    with pytest.raises(TaskDeferred):
        sensor().execute(context())
    aws.client("s3").put_object(Bucket=BUCKET, Key=approval.decisions_prefix(RUN) + "0-junk.json", Body=b"{not json")
    with pytest.raises(TaskDeferred):
        sensor().execute_complete(context(), {"status": "ready", "value": 1})
    approval.decide(the_store(aws), run_id=RUN, approver="security-lead", approve=True, reason="",
                    key=sign_as("security-lead"))
    assert sensor().execute_complete(context(), {"status": "ready", "value": 2})["decision"] == "approve"


# -- the UI path: the human-in-the-loop task returns the authenticated user's answer (it cannot sign);
#    the sensor judges that result by the same rules ---------------------------------------------------

def ui_task(**kw) -> FleetUIApprovalOperator:
    return FleetUIApprovalOperator(
        task_id="ui_approval", bucket=BUCKET, region_name="us-east-1", pipeline_role="OrganizationAccountAccessRole",
        bundle_digest=BUNDLE, plan_digest=PLAN, summary="8 accounts: 8 change", approvers=APPROVERS,
        settings={"store": "s3", "table": "fleet-approvals-test", "topic": "fleet-approvals", "ui": False}, **kw)


def answer(option: str, user: str, reason: str = "") -> dict:
    return {"chosen_options": [option], "params_input": {"reason": reason},
            "responded_at": datetime.now(timezone.utc), "responded_by_user": {"id": user, "name": user}}


class UiTi:
    """The gate's task instance: what prod.ui_approval returned in this run."""

    def __init__(self, returned):
        self.returned = returned

    def xcom_pull(self, task_ids):
        return self.returned if task_ids == "prod.ui_approval" else None


@pytest.mark.parametrize("triggered_by, user, option, outcome", [
    ("alice", "security-lead", "Approve", "approved"),
    ("alice", "security-lead", "Reject", "rejected"),
])  # an answer from someone who may not approve fails the UI task instead (tests/approval/test_ui_and_overdue.py);
#    the gate refuses such a result anyway (tests/core/test_approval.py: test_a_ui_decision_is_judged_...)
def test_a_ui_answer_is_returned_unsigned_and_judged_by_the_gate(aws, triggered_by, user, option, outcome):
    store = the_store(aws)
    with pytest.raises(TaskDeferred):
        sensor().execute(context(triggered_by=triggered_by))
    written = ui_task().execute_complete(context(triggered_by=triggered_by), answer(option, user, "looked at it"))
    assert written["via"] == "airflow-ui" and written["approver"] == user and written["reason"] == "looked at it"
    assert "signature" not in written  # no key on a worker
    audit = [store.get(k) for k in store.list(approval.decisions_prefix(RUN))]
    assert audit == [written]  # the audit copy, which also wakes the deferred gate
    gate_context = {**context(triggered_by=triggered_by), "ti": UiTi(written)}
    if outcome == "approved":
        assert sensor().execute_complete(gate_context, {"status": "ready", "value": 1})["approver"] == user
    elif outcome == "rejected":
        with pytest.raises(AirflowFailException, match=f"rejected: reject by {user}"):
            sensor().execute_complete(gate_context, {"status": "ready", "value": 1})
    else:
        with pytest.raises(TaskDeferred):
            sensor().execute_complete(gate_context, {"status": "ready", "value": 1})
    # The audit copy alone, without the task's result, never counts.
    with pytest.raises(TaskDeferred):
        sensor().execute_complete(context(triggered_by=triggered_by), {"status": "ready", "value": 1})


def test_ui_task_skips_unless_asked_for(aws):
    with pytest.raises(AirflowSkipException, match="UI approval is off"):
        ui_task().execute(context())
    with pytest.raises(AirflowSkipException, match="empty plan"):
        ui_task(auto_approved=True).execute(context(conf={"approval_ui": True}))


def test_a_decision_landing_while_the_sensor_judges_still_wakes_it(aws, sign_as, monkeypatch):
    """The race: a record written after the sensor read the decisions but before it deferred must
    be newer than what the trigger waits past, or the run sits until the approval timeout."""
    with pytest.raises(TaskDeferred):
        sensor().execute(context())
    real_evaluate = approval.evaluate

    def evaluate_then_a_decision_lands(store, **kw):
        verdict = real_evaluate(store, **kw)
        approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))
        return verdict

    monkeypatch.setattr(approval, "evaluate", evaluate_then_a_decision_lands)
    with pytest.raises(TaskDeferred) as deferred:
        sensor().execute_complete(context(), {"status": "ready", "value": 0})
    trigger = deferred.value.trigger
    assert trigger.seen == 0  # the landed record is not counted as judged

    async def first_event():
        async for event in trigger.run():
            return event.payload
    assert asyncio.run(first_event()) == {"status": "ready", "value": 1}
