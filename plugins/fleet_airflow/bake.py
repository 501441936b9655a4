"""Gamma's bake: wait the configured time in the triggerer while the canaries' health gates hold."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk.exceptions import AirflowFailException

from fleet_airflow.hooks import fleet_template_fields
from fleet_airflow.sensors import FleetBaseSensor
from fleet_airflow.triggers import BakeHealthTrigger


class BakeSensor(FleetBaseSensor):
    """Bake for ``bake_minutes`` checking alarms and new Security Hub findings in the canaries.

    A breach rolls the canaries back to their last known good bundle and fails the run before the
    prod approval is even asked for.
    """

    template_fields: Sequence[str] = fleet_template_fields("deployments", "bundle", "bake_minutes")

    def __init__(self, *, deployments: Any, bundle: Any, bake_minutes: Any, **kwargs):
        super().__init__(**kwargs)
        self.deployments, self.bundle = deployments, bundle  # bundle: the Source stage's Bundle as a dict
        self.bake_minutes = bake_minutes

    def _canaries(self) -> list[dict]:
        return [{k: d[k] for k in ("account_id", "account_name", "region")} for d in self.deployments]

    def execute(self, context) -> dict:
        from fleet import health

        started_at = datetime.now(timezone.utc).isoformat()
        status = health.bake_status(self.fleet_context, self._canaries(), started_at, float(self.bake_minutes))
        if status is not None:
            return self._finish(context, status)
        self.defer_to(BakeHealthTrigger(canaries=self._canaries(), started_at=started_at,
                                        bake_minutes=float(self.bake_minutes), **self.trigger_arguments()))

    def execute_complete(self, context, event: dict) -> dict:
        if event["status"] != "ready":
            raise AirflowFailException(f"bake could not check the canaries: {event.get('message')}")
        return self._finish(context, event["value"])

    def _finish(self, context, status: dict) -> dict:
        from fleet.bundle import Bundle
        from fleet.stages import environment

        if status["state"] == "done":
            self.log.info("Canaries healthy for %s minutes", status["baked_minutes"])
            return status
        for line in status["breaches"]:
            self.log.error("Health gate breached: %s", line)
        back = environment.roll_back(self.fleet_context, Bundle.from_dict(self.bundle), self.deployments,
                                     context["run_id"], log=self.log.info)
        raise AirflowFailException(f"gamma health gate breached ({'; '.join(status['breaches'])}); "
                                   f"{len(back)} canary stacks put back on their last good bundle")
