"""Synchronous checks the triggers poll. Each builds its AWS context from the connection itself, so
no credential or signing key ever travels in a trigger's (stored) arguments."""

from __future__ import annotations

from fleet import approval
from fleet.stages import environment
from fleet_airflow.hooks import FleetAwsHook


def _ctx(aws_conn_id: str, region: str, pipeline_role: str):
    return FleetAwsHook(aws_conn_id=aws_conn_id).fleet_context(region, pipeline_role)


def stacks_settled(aws_conn_id: str, region: str, pipeline_role: str, deployments: list[dict]) -> bool:
    return environment.settled(_ctx(aws_conn_id, region, pipeline_role), deployments)


def decision_count(aws_conn_id: str, region: str, pipeline_role: str, bucket: str, run_id: str,
                   seen: int) -> int:
    """The number of decision records once it exceeds ``seen`` (any new record wakes the sensor)."""
    store = approval.S3Store(_ctx(aws_conn_id, region, pipeline_role), bucket)
    count = len(store.list(approval.decisions_prefix(run_id)))
    return count if count > seen else 0


def bake_health(aws_conn_id: str, region: str, pipeline_role: str, canaries: list[dict], started_at: str,
                bake_minutes: float) -> dict | None:
    from fleet import health

    return health.bake_status(_ctx(aws_conn_id, region, pipeline_role), canaries, started_at, bake_minutes)


def approval_decisions(aws_conn_id: str, region: str, pipeline_role: str, store: str, table: str, bucket: str,
                       run_id: str, seen: int) -> int:
    """Like ``decision_count`` over the configured approval store (S3 or DynamoDB)."""
    found = approval.open_store(_ctx(aws_conn_id, region, pipeline_role), {"store": store, "table": table}, bucket)
    count = len(found.list(approval.decisions_prefix(run_id)))
    return count if count > seen else 0
