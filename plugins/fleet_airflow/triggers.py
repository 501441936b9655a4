"""Async waits that run in the triggerer, so a waiting sensor holds no worker slot.

The waits poll through the same core functions the sensors use (in a thread, since the core is
boto3), and hand the decision back to the sensor: the trigger only says "look again now".
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from airflow.triggers.base import BaseTrigger, TriggerEvent


class FleetPollTrigger(BaseTrigger):
    """Poll ``fleet_airflow.probes.<probe>(**probe_kwargs)`` until it returns a truthy value.

    One trigger for every fleet wait keeps the async code in one place; each probe is a small
    synchronous function over the core, unit-tested without a triggerer.
    """

    def __init__(self, probe: str, probe_kwargs: dict[str, Any], poke_interval: float = 10.0,
                 timeout_seconds: float | None = None):
        super().__init__()
        self.probe = probe
        self.probe_kwargs = probe_kwargs
        self.poke_interval = poke_interval
        self.timeout_seconds = timeout_seconds

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {"probe": self.probe, "probe_kwargs": self.probe_kwargs, "poke_interval": self.poke_interval,
                 "timeout_seconds": self.timeout_seconds})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from fleet_airflow import probes

        fn = getattr(probes, self.probe)
        loop = asyncio.get_running_loop()
        started = loop.time()
        while True:
            try:
                result = await asyncio.to_thread(fn, **self.probe_kwargs)
            except Exception as exc:  # surface to the sensor, which fails the task with the message
                yield TriggerEvent({"status": "error", "message": f"{type(exc).__name__}: {exc}"})
                return
            if result:
                yield TriggerEvent({"status": "ready", "value": result})
                return
            if self.timeout_seconds is not None and loop.time() - started > self.timeout_seconds:
                yield TriggerEvent({"status": "timeout"})
                return
            await asyncio.sleep(self.poke_interval)


class AccountReadinessTrigger(BaseTrigger):
    """Follow one new account through creation, role and regions until ready, failed or timed out.

    Its own trigger (not FleetPollTrigger) because the answer is more than "look again": the event
    carries the stages seen on the way, so a run shows what the account waited for.
    """

    # A transient error (network, throttling past the retry policy) is looked at again; this many in
    # a row means something is wrong that waiting will not fix.
    MAX_ERRORS_IN_A_ROW = 5

    def __init__(self, *, aws_conn_id: str, region: str, pipeline_role: str, name: str, request_id: str | None,
                 account_id: str | None, backend: str, regions: list[str], poke_interval: float,
                 timeout_seconds: float, seen: list[str] | None = None, elapsed: float = 0.0):
        super().__init__()
        self.aws_conn_id, self.region, self.pipeline_role = aws_conn_id, region, pipeline_role
        self.name, self.request_id, self.account_id, self.backend = name, request_id, account_id, backend
        self.regions, self.poke_interval, self.timeout_seconds = list(regions), poke_interval, timeout_seconds
        self.seen, self.elapsed = list(seen or []), elapsed

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (f"{type(self).__module__}.{type(self).__qualname__}",
                {k: getattr(self, k) for k in ("aws_conn_id", "region", "pipeline_role", "name", "request_id",
                                               "account_id", "backend", "regions", "poke_interval",
                                               "timeout_seconds", "seen", "elapsed")})

    async def run(self) -> AsyncIterator[TriggerEvent]:
        from fleet.accounts import ReadinessWatch, check_ready
        from fleet_airflow.probes import _ctx

        loop = asyncio.get_running_loop()
        # The sensor's own first look counts toward the timeout and the stages seen.
        watch = ReadinessWatch(self.name, self.timeout_seconds, loop.time() - self.elapsed, list(self.seen))
        ctx = None
        errors = 0
        while True:
            try:
                if ctx is None:
                    ctx = await asyncio.to_thread(_ctx, self.aws_conn_id, self.region, self.pipeline_role)
                state = await asyncio.to_thread(check_ready, ctx, self.name, self.request_id, self.account_id,
                                                tuple(self.regions), self.backend)
                errors = 0
            except Exception as exc:
                errors += 1
                self.log.warning("account %s: readiness check failed (%d in a row): %s", self.name, errors, exc)
                if errors >= self.MAX_ERRORS_IN_A_ROW:
                    yield TriggerEvent({"status": "error", "name": self.name, "seen": watch.seen,
                                        "detail": f"account {self.name}: readiness check kept failing: "
                                                  f"{type(exc).__name__}: {exc}"})
                    return
                await asyncio.sleep(self.poke_interval)
                continue
            if state.account_id:
                self.account_id = state.account_id
            before = list(watch.seen)
            final = watch.observe(state, loop.time())
            if watch.seen != before:
                self.log.info("account %s: %s (%s)", self.name, state.stage, state.detail)
            if final is not None:
                yield TriggerEvent({"status": final.stage, "name": self.name, "account_id": final.account_id,
                                    "detail": final.detail, "seen": watch.seen, "polls": watch.polls})
                return
            await asyncio.sleep(self.poke_interval)
