"""What both approval paths share on the Airflow side: the store and approvers from the bundle's
config, and the one-time publication of the approval request through SNS with the Amazon
provider's SnsHook. No signing key: approvers sign with their own keys, outside the pipeline."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone

from fleet import approval

log = logging.getLogger(__name__)


def settings_from_bundle(ctx, bucket: str, bundle_digest: str) -> dict:
    """The ``approval`` section of the very bundle being approved (store, table, topic, ui, approvers
    with their public keys)."""
    from fleet.bundle import Bundle
    from fleet.stages import prod

    # The approval tasks are given the bundle's bucket and digest, which is all that locates it.
    return prod.approval_settings(Bundle(bucket, bundle_digest).open(ctx))


def publish_request(ctx, store, *, aws_conn_id: str, region_name: str, run_id: str, bundle_digest: str,
                    plan_digest: str | None, summary: str, triggered_by: str | None, approvers: tuple[str, ...],
                    timeout_hours: float, topic: str | None, ui_url: str | None = None, **shown) -> dict:
    """Write the request (idempotent) and publish it to the SNS topic once per request.

    The topic is created if missing (CreateTopic is idempotent) in the connection's account, the
    management account. A request already published (a retried task) is not published again.
    ``shown``: what else the request shows (commit, fleet_repo, source_ref, targets).
    """
    req = approval.request(store, run_id=run_id, bundle_digest=bundle_digest, plan_digest=plan_digest,
                           summary=summary, triggered_by=triggered_by, approvers=approvers, **shown)
    if topic and not req.get("notified"):
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        requested = datetime.fromisoformat(req["requested_at"])
        deadline = (requested + timedelta(hours=float(timeout_hours))).isoformat(timespec="seconds")
        subject, body = approval.request_message(req, deadline=deadline, ui_url=ui_url)
        hook = SnsHook(aws_conn_id=aws_conn_id, region_name=region_name)
        topic_arn = hook.get_conn().create_topic(
            Name=topic, Tags=[{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}])["TopicArn"]
        hook.publish_to_target(target_arn=topic_arn, message=body, subject=subject, message_attributes={
            "run_id": run_id, "bundle_digest": bundle_digest, "plan_digest": plan_digest or "-"})
        req = {**req, "notified": {"topic_arn": topic_arn,
                                   "at": datetime.now(timezone.utc).isoformat(timespec="seconds")}}
        store.put(approval.request_key(run_id), req)
        log.info("Approval request published to %s", topic_arn)
    return req


def wait_left(store, run_id: str, timeout_hours: float) -> tuple[timedelta | None, timedelta]:
    """(until the half-way alert, or None once it is sent or due; until the deadline) of a request."""
    req = store.get(approval.request_key(run_id))
    requested = datetime.fromisoformat(req["requested_at"])
    now = datetime.now(timezone.utc)
    full = requested + timedelta(hours=timeout_hours) - now
    half = requested + timedelta(hours=timeout_hours / 2) - now
    if req.get("overdue_alerted") or half.total_seconds() <= 0:
        return None, full
    return half, full


def alert_overdue_once(ctx, store, *, bucket: str, bundle_digest: str, run_id: str, timeout_hours: float) -> bool:
    """The ``approval_waiting`` alert, once per request, when it has waited past half its timeout.

    Whichever task waits (the gate sensor for `fleet approve`, the UI task for Required actions)
    calls this at the half-way mark; the request record remembers that it was sent.
    """
    from fleet import alerts
    from fleet.bundle import Bundle
    from fleet_airflow.alerts import alert

    req = store.get(approval.request_key(run_id)) or {}
    if not req or req.get("overdue_alerted") or not alerts.approval_overdue(req["requested_at"], timeout_hours):
        return False
    deadline = (datetime.fromisoformat(req["requested_at"]) + timedelta(hours=timeout_hours)).isoformat(
        timespec="seconds")
    approvers = [a for a in req.get("approvers") or [] if a != req.get("triggered_by")]
    reason = (f"waiting for approval since {req['requested_at']}, past half of its {timeout_hours:g} h timeout; "
              f"without a decision it fails closed at {deadline}. May approve: {', '.join(approvers) or '-'}")
    try:
        config = Bundle(bucket, bundle_digest).open(ctx).config
    except Exception:  # an alert that cannot be sent never changes the wait's outcome
        log.exception("fleet alert: no alerts config for run %s (bundle %s unreadable)", run_id, bundle_digest[:12])
        return False
    alert(ctx, config, "approval_waiting", dag_id="account_fleet_pipeline", run_id=run_id, reason=reason,
          detail={"summary": req.get("summary"), "deadline": deadline, "approvers": approvers})
    store.put(approval.request_key(run_id),
              {**req, "overdue_alerted": datetime.now(timezone.utc).isoformat(timespec="seconds")})
    return True
