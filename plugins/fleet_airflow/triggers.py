"""Async waits that run in the triggerer, so a waiting sensor holds no worker slot.

One small typed trigger per wait, each serialising its own arguments (no credential or signing key:
the trigger builds its AWS context from the connection) and calling its probe directly. The polling
loop is shared in ``FleetBaseTrigger``; the probes are synchronous functions over the core
(``fleet_airflow.probes``), run in a thread since the core is boto3. Apart from account readiness,
a trigger only says "look again now": the sensor takes the decision.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent

from fleet.aws import AwsContext
from fleet_airflow import probes
from fleet_airflow.hooks import fleet_context


class FleetBaseTrigger(BaseTrigger):
    """Poll ``probe`` every ``poll_interval`` seconds until it answers, fails, or ``timeout_seconds`` pass.

    Subclasses pass their own arguments as ``serialized_fields`` (the provider's
    ``AwsBaseWaiterTrigger`` shape): they are what the triggerer stores and rebuilds the trigger from.
    """

    # Errors in a row before the wait gives up; 1: the first error is reported to the sensor.
    max_errors_in_a_row = 1

    def __init__(self, *, serialized_fields: dict[str, Any], aws_conn_id: str | None, region_name: str,
                 pipeline_role: str, poll_interval: float, timeout_seconds: float | None = None):
        super().__init__()
        self.serialized_fields = serialized_fields
        self.aws_conn_id, self.region_name, self.pipeline_role = aws_conn_id, region_name, pipeline_role
        self.poll_interval = float(poll_interval)
        self.timeout_seconds = None if timeout_seconds is None else float(timeout_seconds)

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {**self.serialized_fields, "aws_conn_id": self.aws_conn_id, "region_name": self.region_name,
                 "pipeline_role": self.pipeline_role, "poll_interval": self.poll_interval,
                 "timeout_seconds": self.timeout_seconds})

    def fleet_context(self) -> AwsContext:
        return fleet_context(self.aws_conn_id, self.region_name, self.pipeline_role)

    def probe(self, ctx: AwsContext) -> Any:
        """One synchronous look (runs in a thread)."""
        raise NotImplementedError

    def started(self, now: float) -> None:
        """Called once when the wait starts, with the loop's clock."""

    def event_for(self, result: Any, now: float) -> dict | None:
        """The event that ends the wait, or None to look again."""
        return {"status": "ready", "value": result} if result else None

    def error_event(self, exc: Exception) -> dict:
        return {"status": "error", "message": f"{type(exc).__name__}: {exc}"}

    async def run(self) -> AsyncIterator[TriggerEvent]:
        loop = asyncio.get_running_loop()
        started = loop.time()
        self.started(started)
        ctx, errors = None, 0
        while True:
            try:
                if ctx is None:  # built once per wait, in a thread: it reads the connection
                    ctx = await asyncio.to_thread(self.fleet_context)
                result = await asyncio.to_thread(self.probe, ctx)
            except Exception as exc:  # surfaced to the sensor, which fails the task with the message
                errors += 1
                if errors >= self.max_errors_in_a_row:
                    yield TriggerEvent(self.error_event(exc))
                    return
                self.log.warning("%s: look failed (%d in a row), looking again: %s", type(self).__name__,
                                 errors, exc)
                await asyncio.sleep(self.poll_interval)
                continue
            errors = 0
            event = self.event_for(result, loop.time())
            if event is not None:
                yield TriggerEvent(event)
                return
            if self.timeout_seconds is not None and loop.time() - started > self.timeout_seconds:
                yield TriggerEvent({"status": "timeout"})
                return
            await asyncio.sleep(self.poll_interval)


class StacksSettledTrigger(FleetBaseTrigger):
    """Until no stack of ``deployments`` is in an *_IN_PROGRESS state."""

    def __init__(self, *, deployments: list[dict], **kwargs):
        super().__init__(serialized_fields={"deployments": deployments}, **kwargs)
        self.deployments = deployments

    def probe(self, ctx: AwsContext) -> bool:
        return probes.stacks_settled(ctx, self.deployments)


class ApprovalDecisionTrigger(FleetBaseTrigger):
    """Until the run has more than ``seen`` decision records; the sensor judges them (the key stays there)."""

    def __init__(self, *, store: str, table: str, bucket: str, run_id: str, seen: int, **kwargs):
        super().__init__(serialized_fields={"store": store, "table": table, "bucket": bucket, "run_id": run_id,
                                            "seen": seen}, **kwargs)
        self.store, self.table, self.bucket, self.run_id, self.seen = store, table, bucket, run_id, seen

    def probe(self, ctx: AwsContext) -> int:
        return probes.approval_decisions(ctx, self.store, self.table, self.bucket, self.run_id, self.seen)


class BakeHealthTrigger(FleetBaseTrigger):
    """Until the bake is over or a canary's health gate breaks (``fleet.health.bake_status``)."""

    def __init__(self, *, canaries: list[dict], started_at: str, bake_minutes: float, **kwargs):
        super().__init__(serialized_fields={"canaries": canaries, "started_at": started_at,
                                            "bake_minutes": float(bake_minutes)}, **kwargs)
        self.canaries, self.started_at, self.bake_minutes = canaries, started_at, float(bake_minutes)

    def probe(self, ctx: AwsContext) -> dict | None:
        return probes.bake_health(ctx, self.canaries, self.started_at, self.bake_minutes)


class AccountReadinessTrigger(FleetBaseTrigger):
    """Follow one new account through creation, role and regions until ready, failed or timed out.

    Unlike the other waits, the event carries the stages seen on the way, so a run shows what the
    account waited for; and the timeout is the account's own (``timeout_seconds`` counts the
    sensor's first look too, through ``elapsed``), reported naming the account.
    """

    # A transient error (network, throttling past the retry policy) is looked at again; this many in
    # a row means something is wrong that waiting will not fix.
    max_errors_in_a_row = 5

    def __init__(self, *, name: str, request_id: str | None, account_id: str | None, backend: str,
                 regions: list[str], timeout_seconds: float, seen: list[str] | None = None, elapsed: float = 0.0,
                 **kwargs):
        fields = {"name": name, "request_id": request_id, "account_id": account_id, "backend": backend,
                  "regions": list(regions), "seen": list(seen or []), "elapsed": elapsed}
        # The base's timeout stays off (None): ReadinessWatch applies the account's own.
        super().__init__(serialized_fields=fields, **kwargs)
        self.name, self.request_id, self.account_id, self.backend = name, request_id, account_id, backend
        self.regions, self.seen, self.elapsed = list(regions), list(seen or []), elapsed
        self.account_timeout_seconds = float(timeout_seconds)
        self.watch = None

    def serialize(self) -> tuple[str, dict[str, Any]]:
        path, kwargs = super().serialize()
        return path, {**kwargs, "timeout_seconds": self.account_timeout_seconds}

    def started(self, now: float) -> None:
        from fleet.accounts import ReadinessWatch

        # The sensor's own first look counts toward the timeout and the stages seen.
        self.watch = ReadinessWatch(self.name, self.account_timeout_seconds, now - self.elapsed, list(self.seen))

    def probe(self, ctx: AwsContext):
        from fleet.accounts import check_ready

        return check_ready(ctx, self.name, self.request_id, self.account_id, tuple(self.regions), self.backend)

    def event_for(self, state, now: float) -> dict | None:
        if state.account_id:
            self.account_id = state.account_id
        before = list(self.watch.seen)
        final = self.watch.observe(state, now)
        if self.watch.seen != before:
            self.log.info("account %s: %s (%s)", self.name, state.stage, state.detail)
        if final is None:
            return None
        return {"status": final.stage, "name": self.name, "account_id": final.account_id, "detail": final.detail,
                "seen": self.watch.seen, "polls": self.watch.polls}

    def error_event(self, exc: Exception) -> dict:
        return {"status": "error", "name": self.name, "seen": self.watch.seen,
                "detail": f"account {self.name}: readiness check kept failing: {type(exc).__name__}: {exc}"}
