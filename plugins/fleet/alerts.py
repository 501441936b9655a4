"""Alerts and fleet metrics: one SNS message per event operators must act on, CloudWatch metrics per run.

Events: a failed pipeline, vending or drift run, a halted wave, drift found, a failed vending request,
an approval waiting past half its timeout. Each message names the run, the reason and the link to
the run's report on the Fleet page, so whoever reads it on a phone knows where to look. The topic is
``alerts.topic`` in the fleet config, in the management account's home region.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import quote

from fleet.aws import AwsContext
from fleet.config import Alerts

EVENTS = ("run_failed", "wave_halted", "drift_found", "vending_failed", "approval_waiting")
SUBJECT_LIMIT = 100  # SNS refuses a longer Subject


def report_url(alerts: Alerts, run_id: str, dag_id: str = "account_fleet_pipeline") -> str:
    """The Fleet page's view of a run (the pipeline's run report; other DAGs' runs in the Airflow grid)."""
    if dag_id == "account_fleet_pipeline":
        return f"{alerts.console_url}/fleet/runs/{quote(run_id, safe='')}"
    return f"{alerts.console_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def topic_arn(ctx: AwsContext, alerts: Alerts) -> str:
    """The alert topic's ARN; CreateTopic returns the existing topic's ARN when it is already there."""
    return ctx.client("sns").create_topic(Name=alerts.topic)["TopicArn"]


def message(event: str, *, dag_id: str, run_id: str, reason: str, link: str, detail: dict | None = None) -> dict:
    """The alert as (subject, body): the body is JSON, so a subscriber can also parse it."""
    if event not in EVENTS:
        raise ValueError(f"unknown alert event {event!r}; expected one of {', '.join(EVENTS)}")
    subject = f"[fleet] {event.replace('_', ' ')}: {dag_id} {run_id}"
    body = {"event": event, "dag_id": dag_id, "run_id": run_id, "reason": reason, "report": link,
            "at": datetime.now(UTC).isoformat(timespec="seconds"), **({"detail": detail} if detail else {})}
    return {"subject": subject[:SUBJECT_LIMIT], "body": body}


def compose(alerts: Alerts, event: str, *, dag_id: str, run_id: str, reason: str,
            detail: dict | None = None) -> tuple[str, str]:
    """(subject, message text) of an alert, the text being JSON with the report link."""
    msg = message(event, dag_id=dag_id, run_id=run_id, reason=reason, link=report_url(alerts, run_id, dag_id),
                  detail=detail)
    return msg["subject"], json.dumps(msg["body"], indent=1, default=str)


def publish(ctx: AwsContext, alerts: Alerts, event: str, *, dag_id: str, run_id: str, reason: str,
            detail: dict | None = None) -> str:
    """Publish one alert; returns the SNS message id."""
    subject, text = compose(alerts, event, dag_id=dag_id, run_id=run_id, reason=reason, detail=detail)
    return ctx.client("sns").publish(TopicArn=topic_arn(ctx, alerts), Subject=subject, Message=text)["MessageId"]


def run_failure_reason(report: dict | None, fallback: str) -> str:
    """Why a pipeline run failed, from its run report's failures (the first failed task and its verdict)."""
    failed = [f for f in (report or {}).get("failures", []) if f.get("state") == "failed"]
    if not failed:
        return fallback
    first = failed[0]
    more = f" (and {len(failed) - 1} more failed task(s))" if len(failed) > 1 else ""
    return f"{first['stage']} stage, task {first['task']}: {first['reason']}{more}"


def approval_overdue(requested_at: str, timeout_hours: float, now: datetime | None = None) -> bool:
    """Has a request (ISO time) waited past half its timeout?"""
    started = datetime.fromisoformat(requested_at)
    if started.tzinfo is None:
        started = started.replace(tzinfo=UTC)
    waited = ((now or datetime.now(UTC)) - started).total_seconds()
    return waited > timeout_hours * 3600 / 2


def put_metrics(ctx: AwsContext, alerts: Alerts, *, statuses: dict[str, int] | None = None,
                rollout_seconds: float | None = None, drifted_stacks: int | None = None) -> int:
    """Fleet metrics to CloudWatch (namespace ``alerts.metrics_namespace``); returns how many were sent.

    ``statuses``: account status (in_sync, behind, failed, drifted, never_deployed) -> number of accounts,
    one ``Accounts`` datum per status with a ``Status`` dimension.
    """
    data = [{"MetricName": "Accounts", "Dimensions": [{"Name": "Status", "Value": status}],
             "Value": float(count), "Unit": "Count"} for status, count in sorted((statuses or {}).items())]
    if rollout_seconds is not None:
        data.append({"MetricName": "RolloutDuration", "Value": float(rollout_seconds), "Unit": "Seconds"})
    if drifted_stacks is not None:
        data.append({"MetricName": "DriftedStacks", "Value": float(drifted_stacks), "Unit": "Count"})
    cw = ctx.client("cloudwatch")
    for start in range(0, len(data), 20):  # keep each call small; PutMetricData caps the batch
        cw.put_metric_data(Namespace=alerts.metrics_namespace, MetricData=data[start:start + 20])
    return len(data)
