"""Synchronous looks the triggers take, one per wait, over the core. Each gets the trigger's AWS
context (built from the connection in the triggerer), so no credential or signing key ever travels
in a trigger's stored arguments."""

from __future__ import annotations

from fleet import approval
from fleet.aws import AwsContext
from fleet.stages import environment


def stacks_settled(ctx: AwsContext, deployments: list[dict]) -> bool:
    return environment.settled(ctx, deployments)


def approval_decisions(ctx: AwsContext, store: str, table: str, bucket: str, run_id: str, seen: int) -> int:
    """The number of decision records once it exceeds ``seen`` (any new record wakes the sensor)."""
    found = approval.open_store(ctx, {"store": store, "table": table}, bucket)
    count = len(found.list(approval.decisions_prefix(run_id)))
    return count if count > seen else 0


def bake_health(ctx: AwsContext, canaries: list[dict], started_at: str, bake_minutes: float) -> dict | None:
    from fleet import health

    return health.bake_status(ctx, canaries, started_at, bake_minutes)
