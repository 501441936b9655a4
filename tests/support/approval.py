"""What the approval gate's tests share: the artifacts bucket it uses and a task context as
Airflow hands it to an operator (without a scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet import source

BUCKET = source.artifacts_bucket("123456789012", "us-east-1")


@dataclass
class FakeDagRun:
    triggering_user_name: str | None = "alice"
    conf: dict = field(default_factory=dict)
    dag_id: str = "account_fleet_pipeline"


def context(run_id: str = "manual__2026-11-28T10:00:00+00:00", triggered_by: str | None = "alice",
            conf: dict | None = None) -> dict:
    return {"run_id": run_id, "dag_run": FakeDagRun(triggered_by, conf or {}), "params": {}}
