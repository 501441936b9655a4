"""Fleet drift sweep: CloudFormation drift detection on every baseline stack, every day.

Wiring only (the work is ``fleet.drift``). The report goes to the artifacts bucket under
``drift/<run id>/report.json``. Drift fails the run by default (``fail_on_drift``), so the usual
Airflow alerting (on_failure callbacks, the UI's red runs) tells ops; the report says what to fix,
and the fleet pipeline's next rollout puts the stacks back.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, task

AWS_CONN_ID = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
DEFAULT_REPO = str(Path(__file__).resolve().parents[1] / "include")

with DAG(
    dag_id="fleet_drift",
    description="Detect drift on every baseline stack in the fleet",
    schedule="0 5 * * *",  # daily, before the weekday rollout window
    catchup=False,
    max_active_runs=1,
    default_args={"owner": "platform-team", "retries": 2, "retry_delay": timedelta(minutes=1)},
    params={
        "fleet_repo": Param(DEFAULT_REPO, type="string", description="Folder of the fleet repository"),
        "fail_on_drift": Param(True, type="boolean", description="Fail the run when any stack drifted"),
    },
    tags=["fleet", "aws", "drift"],
    doc_md=__doc__,
) as dag:

    @task
    def detect(params: dict | None = None, run_id: str | None = None) -> dict:
        """One task with a bounded thread pool: thousands of stacks in one worker slot (see README)."""
        from airflow.sdk.exceptions import AirflowFailException

        from fleet import drift
        from fleet.spec import SpecError, load_fleet
        from fleet_airflow.hooks import FleetAwsHook

        try:
            fleet = load_fleet(Path(params["fleet_repo"]) / "fleet.yaml")
        except SpecError as exc:
            raise AirflowFailException(f"the fleet config is not valid:\n{exc}")
        org = fleet.organization
        ctx = FleetAwsHook(aws_conn_id=AWS_CONN_ID).fleet_context(org.home_region, org.pipeline_role)
        ctx.require_management_account(org.management_account)
        report = drift.detect_fleet(ctx, fleet)
        report["location"] = drift.write_report(ctx, fleet, report, run_id)
        print(drift.to_text(report))
        print(f"drift report: {report['location']}")
        return {k: report[k] for k in ("summary", "location", "drifted", "in_sync", "unknown", "stacks")}

    @task
    def verdict(report: dict, params: dict | None = None) -> None:
        from airflow.sdk.exceptions import AirflowFailException

        if params["fail_on_drift"] and (report["drifted"] or report["unknown"]):
            names = ", ".join(sorted({f"{r['account_name']}/{r['region']}" for r in report["drifted"]}))
            raise AirflowFailException(f"{report['summary']}: {names} (report: {report['location']})")

    verdict(detect())
