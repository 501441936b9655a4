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
