"""Start on push: the pipeline's push asset watches an SQS queue through the common messaging
provider's MessageQueueTrigger (scheme "sqs", served by the Amazon provider's SqsSensorTrigger),
against local AWS's SQS; the Source stage snapshots the commit the push names.

The trigger runs as the triggerer would build it: from its serialized classpath and kwargs. Its AWS
calls go through the provider's async connection, which needs aiobotocore; where a test says
``boto3_behind_async_conn`` the same calls are made by the provider's sync SqsHook on the same
Airflow connection (aiobotocore is not installed here; see the test that needs it).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import uuid
from types import SimpleNamespace

import pytest
from airflow.sdk import Asset
from airflow.sdk.exceptions import AirflowFailException

from fleet.pushevents import FILTER_EXPRESSION, PushEventError, matches, parse, queue_filter
from fleet_airflow.assets import PUSHES_NAME, PUSHES_URI, push_trigger

from tests.support import aws_connection
from tests.support.gitrepo import commit, fleet_remote
from tests.support.pipeline import task_function

SHA = "c" * 40


def codecommit(repo="fleet", branch="main", sha=SHA, event="referenceUpdated", ref_type="branch") -> dict:
    """What an EventBridge rule on CodeCommit delivers to an SQS target (the event itself)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "CodeCommit Repository State Change",
            "source": "aws.codecommit", "account": "123456789012", "time": "2026-12-01T09:00:00Z",
            "region": "us-east-1", "resources": [f"arn:aws:codecommit:us-east-1:123456789012:{repo}"],
            "detail": {"callerUserArn": "arn:aws:iam::123456789012:user/dev", "commitId": sha,
                       "event": event, "oldCommitId": "b" * 40, "referenceFullName": f"refs/heads/{branch}",
                       "referenceName": branch, "referenceType": ref_type, "repositoryId": str(uuid.uuid4()),
                       "repositoryName": repo}}


def github(full_name="acme/fleet", branch="main", sha=SHA) -> dict:
    """A minimal GitHub push (the fields GitHub's push webhook always has that a run needs)."""
    return {"ref": f"refs/heads/{branch}", "before": "b" * 40, "after": sha, "created": False, "deleted": False,
            "repository": {"id": 1, "name": full_name.split("/")[-1], "full_name": full_name},
            "pusher": {"name": "dev"}}


# (body, passes for repository "fleet" / branch "main")
CORPUS = {
    "codecommit push": (codecommit(), True),
    "codecommit branch created": (codecommit(event="referenceCreated"), True),
    "codecommit branch deleted": (codecommit(event="referenceDeleted"), False),
    "codecommit tag": (codecommit(ref_type="tag", branch="v1"), False),
    "codecommit other repository": (codecommit(repo="fleet-old"), False),
    "codecommit other branch": (codecommit(branch="dev"), False),
    "github push": (github(), True),
    "github other owner, same name": (github(full_name="someone/fleet"), True),  # a bare name: any owner
    "github other repository": (github(full_name="acme/fleet2"), False),
    "github other branch": (github(branch="main2"), False),
    "github tag": ({**github(), "ref": "refs/tags/v1"}, False),
    "another event": ({"source": "aws.s3", "detail-type": "Object Created", "detail": {}}, False),
}


def provider_filter(bodies: list, repository: str, branch: str) -> list:
    """The Amazon provider's own message filter, as SqsSensorTrigger applies it."""
    from airflow.providers.amazon.aws.utils.sqs import filter_messages

    expression, values = queue_filter(repository, branch)
    messages = [{"Body": json.dumps(b), "MessageId": str(i)} for i, b in enumerate(bodies)]
    return [json.loads(m["Body"]) for m in filter_messages(messages, "jsonpath-ext", values, expression)]


def test_the_queue_filter_passes_exactly_the_pushes_the_parser_matches():
    bodies = [b for b, _ in CORPUS.values()]
    passed = provider_filter(bodies, "fleet", "main")
    assert passed == [b for b, ok in CORPUS.values() if ok]
    assert all(matches(parse(b), "fleet", "main") for b in passed)
    # An owner/name takes only that GitHub repository (a CodeCommit name has no slash).
    assert provider_filter(bodies, "acme/fleet", "main") == [CORPUS["github push"][0]]


def test_the_queue_filter_refuses_names_no_push_could_carry():
    for repository, branch in (("fleet", "-x"), ("fleet", "a..b"), ("fleet", 'ma"in'), ("a/b/c", "main"),
                               ("", "main"), ("fleet", "")):
        with pytest.raises(PushEventError, match="expected"):
            queue_filter(repository, branch)


def test_the_trigger_is_the_messaging_providers_and_serializes_to_the_sqs_trigger():
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    trigger = push_trigger("https://sqs.us-east-1.amazonaws.com/123456789012/fleet-pushes", "fleet", "main",
                           aws_conn_id="aws_default")
    assert isinstance(trigger, MessageQueueTrigger) and trigger.scheme == "sqs"
    classpath, kwargs = trigger.serialize()
    assert classpath == "airflow.providers.amazon.aws.triggers.sqs.SqsSensorTrigger"
    assert kwargs["message_filtering"] == "jsonpath-ext" and kwargs["message_filtering_config"] == FILTER_EXPRESSION
    assert kwargs["delete_message_on_reception"] is True and kwargs["aws_conn_id"] == "aws_default"
    with pytest.raises(PushEventError, match="FLEET_PUSH_QUEUE_URL: expected an SQS queue URL"):
        push_trigger("file:///etc/passwd", "fleet", "main", aws_conn_id="aws_default")


# -- against local AWS's SQS ------------------------------------------------------------------------

@pytest.fixture
def push_queue(seeded_fleet, aws_server, monkeypatch):
    """A queue of its own; visibility timeout 0, so a message the filter leaves is seen again at once
    (what makes "no event for it" mean something within a short wait)."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    sqs = seeded_fleet.client("sqs")
    url = sqs.create_queue(QueueName=f"fleet-pushes-{uuid.uuid4().hex[:8]}",
                           Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    return SimpleNamespace(url=url, sqs=sqs, ctx=seeded_fleet)


class _AsyncOverSync:
    """The async client surface SqsSensorTrigger uses, over the provider's sync SQS client."""

    def __init__(self, client):
        self._client = client

    async def __aenter__(self):
        return self

    async def __aexit__(self, *exc):
        return False

    def __getattr__(self, name):
        method = getattr(self._client, name)

        async def call(**kwargs):
            return await asyncio.to_thread(method, **kwargs)
        return call


@pytest.fixture
def boto3_behind_async_conn(monkeypatch):
    from airflow.providers.amazon.aws.hooks.sqs import SqsHook

    async def get_async_conn(self):
        return _AsyncOverSync(self.get_conn())  # same connection id, endpoint and region
    monkeypatch.setattr(SqsHook, "get_async_conn", get_async_conn)


def as_the_triggerer_builds_it(trigger):
    classpath, kwargs = trigger.serialize()
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)(**kwargs)


def first_event(trigger, timeout: float) -> dict | None:
    async def wait():
        events = trigger.run()
        try:
            return (await asyncio.wait_for(events.__anext__(), timeout)).payload
        except asyncio.TimeoutError:
            return None
        finally:
            await events.aclose()
    return asyncio.run(wait())


def queued(queue) -> int:
    attrs = queue.sqs.get_queue_attributes(QueueUrl=queue.url, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def send(queue, *bodies) -> None:
    for body in bodies:
        queue.sqs.send_message(QueueUrl=queue.url, MessageBody=json.dumps(body))


def watcher_trigger(queue, repository="fleet", branch="main"):
    return as_the_triggerer_builds_it(push_trigger(queue.url, repository, branch, aws_conn_id="aws_default",
                                                   wait_time_seconds=1, waiter_delay=1))


def test_the_trigger_yields_the_matching_pushes_only(push_queue, boto3_behind_async_conn):
    pushes = [codecommit(sha="1" * 40), github(sha="2" * 40)]
    others = [codecommit(repo="other"), github(branch="dev"), codecommit(ref_type="tag", branch="v1")]
    send(push_queue, pushes[0], others[0], pushes[1], others[1], others[2])

    event = first_event(watcher_trigger(push_queue), timeout=30)
    assert event is not None and event["status"] == "success"
    assert [json.loads(m["Body"]) for m in event["message_batch"]] == pushes
    # The pushes were taken off the queue; the rest stay there (for the queue's redrive policy).
    assert queued(push_queue) == len(others)
    assert first_event(watcher_trigger(push_queue), timeout=4) is None


def test_a_body_that_is_not_json_stops_the_trigger_with_the_providers_error(push_queue, boto3_behind_async_conn):
    # The provider's filter decodes every body: a stray message fails the trigger (the triggerer
    # logs it and starts it again), which is why the queue needs a redrive policy.
    send(push_queue, codecommit())
    push_queue.sqs.send_message(QueueUrl=push_queue.url, MessageBody="not json")
    with pytest.raises(json.JSONDecodeError):
        first_event(watcher_trigger(push_queue), timeout=30)


def test_the_trigger_runs_on_the_providers_own_async_connection(push_queue):
    """The triggerer runs SqsSensorTrigger on aiobotocore; without it no push ever starts a run."""
    try:
        import aiobotocore  # noqa: F401
    except ImportError:
        pytest.fail("aiobotocore is not installed: the Amazon provider's SqsSensorTrigger (the push "
                    "AssetWatcher's trigger) cannot run in the triggerer. Install the provider's "
                    "[aiobotocore] extra at a version matching the pinned botocore.")
    push = codecommit()
    send(push_queue, push)
    event = first_event(watcher_trigger(push_queue), timeout=30)
    assert event is not None and [json.loads(m["Body"]) for m in event["message_batch"]] == [push]


# -- the Source stage of a run the push started ----------------------------------------------------

@pytest.fixture
def pushed_dag(push_queue, airflow_db, monkeypatch):
    """account_fleet_pipeline parsed with the push queue configured (fleet repo "fleet", branch main)."""
    from tests.support.dags import parse_dag

    monkeypatch.setenv("FLEET_PUSH_QUEUE_URL", push_queue.url)
    monkeypatch.setenv("FLEET_PUSH_REPOSITORY", "fleet")
    monkeypatch.setenv("FLEET_PUSH_BRANCH", "main")
    return parse_dag("account_fleet_pipeline")


def events_from(payload: dict) -> dict:
    """triggering_asset_events as a run sees them: the triggerer's asset event, its extra as stored."""
    return {Asset(name=PUSHES_NAME, uri=PUSHES_URI): [
        SimpleNamespace(extra={"from_trigger": True, "payload": payload}, timestamp="2026-12-01T09:00:01Z")]}


PARAMS = {"targets": None, "source_ref": None, "dry_run": False, "rerun_failed_only": False,
          "cleanse_history": False, "approval_ui": None}


def test_the_source_stage_snapshots_the_pushed_commit(pushed_dag, push_queue, boto3_behind_async_conn,
                                                       tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_WORK_DIR", str(tmp_path / "bundles"))
    repo, url = fleet_remote(tmp_path / "fleet")
    first = commit(repo, "first push")
    second = commit(repo, "second push")
    commit(repo, "not pushed yet: HEAD of main")
    send(push_queue, codecommit(sha=first), codecommit(repo="other", sha="d" * 40), github(sha=second))

    payload = first_event(watcher_trigger(push_queue), timeout=30)
    assert payload is not None
    params = {**PARAMS, "fleet_repo": url}
    settings = task_function(pushed_dag, "source.preflight")(params=params, triggering_asset_events=events_from(payload))
    assert settings["source_ref"] == second and settings["targets"] == []  # the last push; the whole fleet
    s3 = push_queue.ctx.client("s3")
    try:
        s3.create_bucket(Bucket=settings["bucket"])
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    bundle = task_function(pushed_dag, "source.snapshot")(settings, params=params)
    assert bundle["commit"] == second


def test_a_run_started_by_a_deleted_branch_deploys_nothing(pushed_dag, tmp_path):
    _, url = fleet_remote(tmp_path / "fleet")
    deleted = {**github(sha="0" * 40), "deleted": True}
    payload = {"status": "success", "message_batch": [{"MessageId": "1", "Body": json.dumps(deleted)}]}
    with pytest.raises(AirflowFailException, match="hold no push to branch 'main' of 'fleet'.*nothing was deployed"):
        task_function(pushed_dag, "source.preflight")(params={**PARAMS, "fleet_repo": url},
                                                      triggering_asset_events=events_from(payload))


def test_the_run_reads_each_assets_events_by_name():
    from fleet_airflow.assets import VENDED_ACCOUNTS, pushed_commit, pushed_messages, vended_account_ids

    def event(extra, at):
        return SimpleNamespace(extra=extra, timestamp=at)

    later, earlier = github(sha="2" * 40), codecommit(sha="1" * 40)
    events = {
        Asset(name=PUSHES_NAME, uri=PUSHES_URI): [  # stored out of order: read oldest first
            event({"from_trigger": True, "payload": {"message_batch": [{"Body": json.dumps(later)}]}}, "2026-12-01T09:05:00"),
            event({"from_trigger": True, "payload": {"message_batch": [{"Body": json.dumps(earlier)}]}}, "2026-12-01T09:00:00")],
        VENDED_ACCOUNTS: [event({"accounts": [{"id": "111122223333"}, {"id": "111122223333"}]}, "2026-12-01T08:00:00")],
    }
    assert [json.loads(b) for b in pushed_messages(events)] == [earlier, later]
    assert pushed_commit(events, "fleet", "main").commit == "2" * 40
    assert vended_account_ids(events) == ["111122223333"]
    assert pushed_commit({VENDED_ACCOUNTS: events[VENDED_ACCOUNTS]}, "fleet", "main") is None
    assert pushed_commit(None, "fleet", "main") is None and vended_account_ids(None) == []
