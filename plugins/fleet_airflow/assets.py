"""Assets the fleet DAGs produce and consume."""

from __future__ import annotations

import re

from airflow.sdk import Asset, AssetWatcher

from fleet import pushevents

# Updated by account_vending when accounts are ready and set up; the event's extra lists them
# ({"accounts": [{"name", "id", "email", "ou"}]}). account_fleet_pipeline is scheduled on it, so a
# new account gets the fleet's baselines without waiting for the next weekday rollout.
VENDED_ACCOUNTS = Asset(name="fleet_vended_accounts", uri="fleet://accounts/vended", group="fleet")

PUSHES_NAME, PUSHES_URI = "fleet_repo_pushes", "fleet://repo/pushes"
# SQS long polling: the trigger's receive waits up to 20 s and returns as soon as a message lands, so
# a push starts a run within seconds at about three requests a minute; the pause after an empty
# receive stays short for the same reason.
PUSH_WAIT_SECONDS = 20
PUSH_PAUSE_SECONDS = 1
# A queue URL as SQS gives it (any host: local AWS's differs from sqs.<region>.amazonaws.com).
_QUEUE_URL = re.compile(r"https?://[A-Za-z0-9.:\[\]-]+/[0-9]{12}/[A-Za-z0-9_-]{1,80}(\.fifo)?")


def push_trigger(queue_url: str, repository: str, branch: str, *, aws_conn_id: str | None,
                 region_name: str | None = None, wait_time_seconds: int = PUSH_WAIT_SECONDS,
                 waiter_delay: int = PUSH_PAUSE_SECONDS):
    """The common messaging provider's queue trigger on the push queue (``scheme="sqs"``: the Amazon
    provider's SqsSensorTrigger does the work), yielding only pushes to ``repository``'s ``branch``.

    Matching messages are deleted once received; others stay in the queue for its redrive policy
    (README: "Start on push"). Everything here is a plain value: nothing is read from AWS until the
    triggerer runs it, with the endpoint and credentials of ``aws_conn_id``.
    """
    from airflow.providers.common.messaging.triggers.msg_queue import MessageQueueTrigger

    if not _QUEUE_URL.fullmatch(queue_url):
        raise pushevents.PushEventError(
            f"FLEET_PUSH_QUEUE_URL: expected an SQS queue URL (https://sqs.<region>.amazonaws.com/<account>/<name>), "
            f"got {queue_url!r}")
    expression, values = pushevents.queue_filter(repository, branch, "FLEET_PUSH_REPOSITORY / FLEET_PUSH_BRANCH")
    return MessageQueueTrigger(
        scheme="sqs", sqs_queue=queue_url, aws_conn_id=aws_conn_id, region_name=region_name,
        max_messages=10, wait_time_seconds=wait_time_seconds, waiter_delay=waiter_delay,
        message_filtering="jsonpath-ext", message_filtering_config=expression,
        message_filtering_match_values=values, delete_message_on_reception=True)


def fleet_pushes(queue_url: str | None, repository: str, branch: str, *, aws_conn_id: str | None) -> Asset:
    """Pushes to the fleet repo's branch, watched on ``queue_url`` when one is configured (without
    one the asset exists but nothing updates it)."""
    watchers = []
    if queue_url:
        watchers.append(AssetWatcher(name="fleet_push_queue", trigger=push_trigger(
            queue_url, repository, branch, aws_conn_id=aws_conn_id)))
    return Asset(name=PUSHES_NAME, uri=PUSHES_URI, group="fleet", watchers=watchers)


def _events_named(events, name: str) -> list:
    """The triggering events of the asset called ``name`` (keys are the Asset objects of the run)."""
    found = []
    for asset, items in (dict(events) if events else {}).items():
        if getattr(asset, "name", None) == name:
            found += list(items)
    return found


def vended_account_ids(events) -> list[str]:
    """Account ids from the fleet_vended_accounts events that triggered a run (none for a cron run)."""
    found: list[str] = []
    for event in _events_named(events, VENDED_ACCOUNTS.name):
        found += [a["id"] for a in (event.extra or {}).get("accounts", []) if a.get("id")]
    return list(dict.fromkeys(found))


def pushed_messages(events) -> list[str | dict]:
    """The queue messages' bodies in the fleet_repo_pushes events that triggered a run, oldest first
    (the triggerer stores the trigger's event as ``{"from_trigger": true, "payload": {"message_batch":
    [...]}}``)."""
    bodies: list[str | dict] = []
    ordered = sorted(_events_named(events, PUSHES_NAME), key=lambda e: str(getattr(e, "timestamp", "") or ""))
    for event in ordered:
        extra = event.extra or {}
        payload = extra.get("payload") if isinstance(extra.get("payload"), dict) else {}
        bodies += [m.get("Body") for m in payload.get("message_batch") or [] if isinstance(m, dict)]
    return bodies


def pushed_commit(events, repository: str, branch: str) -> pushevents.Push | None:
    """The push this run must snapshot when pushes started it, else None (a cron, vending or manual
    run). Raises PushEventError when they hold no push to ``repository``'s ``branch``."""
    bodies = pushed_messages(events)
    return pushevents.pushed(bodies, repository, branch) if bodies else None
