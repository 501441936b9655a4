"""Alerts from Airflow: the Amazon provider's ``SnsNotifier`` for failed runs, and alerts from tasks.

The topic is in the fleet config (``alerts.topic``), which is read at run time, never at parse time;
so ``FleetFailureNotifier`` resolves its ``target_arn`` (and subject and message) when it fires,
then publishes through the provider's notifier and ``SnsHook``. Task-side alerts (a halted wave,
drift, a failed vending request) go through ``fleet.alerts`` with the task's own AWS context.
An alert that cannot be sent is logged and never changes the task's or the run's outcome.
"""

from __future__ import annotations

import logging
from pathlib import Path

from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

log = logging.getLogger(__name__)


class FleetFailureNotifier(SnsNotifier):
    """``on_failure_callback`` of the fleet DAGs: one SNS message per failed run, naming the run, the
    reason (for the pipeline: the failing stage, task and verdict from its run report) and the link."""

    def __init__(self, *, aws_conn_id: str | None = "aws_default", repo_param: str = "fleet_repo", **kwargs):
        super().__init__(aws_conn_id=aws_conn_id, target_arn="", message="", **kwargs)
        self.repo_param = repo_param

    def render_template_fields(self, context, jinja_env=None) -> None:
        """Nothing to render: subject, message and topic are built in ``notify``. (Rendering needs the
        DAG's template environment, which the callback context of `airflow dags test` lacks.)"""

    def notify(self, context) -> None:
        try:
            self._resolve(context)
        except Exception:
            log.exception("fleet alert: could not prepare the failure alert for run %s", context.get("run_id"))
            return
        try:
            super().notify(context)
        except Exception:
            log.exception("fleet alert: could not publish to %s", self.target_arn)

    def _resolve(self, context) -> None:
        # Imported when an alert fires: the DAG files build the notifier at parse time.
        from fleet import alerts
        from fleet.config import load_config
        from fleet.fleetview import FleetView
        from fleet_airflow.hooks import fleet_context

        params = context.get("params") or {}
        config = load_config(Path(params[self.repo_param]) / "fleet.yaml")
        org = config.organization
        ctx = fleet_context(self.aws_conn_id, org.home_region, org.pipeline_role)
        dag_id = context["dag"].dag_id
        run_id = context["run_id"]
        fallback = f"the run failed ({context.get('reason') or 'no reason given'})"
        ti = context.get("ti")
        if ti is not None and getattr(ti, "task_id", None):
            fallback += f"; last task {ti.task_id}"
        report = FleetView(ctx, config).run_report(run_id) if dag_id == "account_fleet_pipeline" else None
        subject, text = alerts.compose(config.alerts, "run_failed", dag_id=dag_id, run_id=run_id,
                                       reason=alerts.run_failure_reason(report, fallback))
        self.region_name = org.home_region
        self.target_arn = alerts.topic_arn(ctx, config.alerts)
        self.subject, self.message = subject, text


def alert(ctx, config, event: str, *, dag_id: str, run_id: str, reason: str, detail: dict | None = None) -> None:
    """Publish a task-side alert; a failure to send is logged, not raised."""
    from fleet import alerts

    try:
        message_id = alerts.publish(ctx, config.alerts, event, dag_id=dag_id, run_id=run_id, reason=reason,
                                    detail=detail)
        print(f"alert {event} sent to SNS topic {config.alerts.topic} ({message_id})")
    except Exception:
        log.exception("fleet alert: could not publish %s for run %s", event, run_id)


def metrics(ctx, config, **values) -> None:
    """Fleet metrics to CloudWatch; a failure to send is logged, not raised."""
    from fleet import alerts

    try:
        sent = alerts.put_metrics(ctx, config.alerts, **values)
        print(f"{sent} fleet metric(s) sent to CloudWatch namespace {config.alerts.metrics_namespace}")
    except Exception:
        log.exception("fleet metrics: could not put %s", ", ".join(values))


def rollout_metrics(ctx, config, seconds: float) -> None:
    """After a rollout: its duration and the accounts per status (from the ledger), never raising."""
    counts = None
    try:
        from fleet.fleetview import FleetView

        counts = FleetView(ctx, config).accounts()["counts"]
    except Exception:
        log.exception("fleet metrics: could not count the accounts per status")
    metrics(ctx, config, rollout_seconds=seconds, statuses=counts)
