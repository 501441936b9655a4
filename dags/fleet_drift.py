"""Fleet drift sweep: CloudFormation drift detection on every baseline stack, every day.

Wiring only (the work is ``fleet.drift``); nothing here reads a file or calls AWS at parse time.

- **preflight**: loads `fleet.yaml` from the `fleet_repo` Param and checks the connection is the
  config's management account (a bad config or the wrong account fails at once, without retries).
- **artifacts_bucket**: makes sure the artifacts bucket exists (the fleet pipeline's bucket).
- **detect**: one task. Every ACTIVE account of the live organization that has a baseline stack,
  in every baseline region, checked concurrently (`max_concurrent` threads) with CloudFormation's
  own drift detection. Writes `drift/<run id>/report.json` and `report.txt` to the artifacts bucket
  before it returns, so the report exists whatever happens next. An account that cannot be checked
  is reported as UNKNOWN; it does not fail the task.
- **report**: prints the text report and gives the verdict. With `fail_on_drift` (the default) the
  run fails when any stack DRIFTED or could not be checked (UNKNOWN): a failed run is what
  Airflow's alerting (failure callbacks, the UI's red runs) shows ops, and the log and the
  report in S3 say which account, stack, resource and property. Set it to false for a sweep that
  only records (the run succeeds and the report still marks the drift). A verdict is not retried.

Why one detect task and not one mapped task per account: the work is a few API calls per stack
and waiting on CloudFormation; a bounded thread pool in one worker slot covers 1,000 accounts
without 1,000 task instances to schedule (0.14 to 0.3 s each here, README "Speed at 1,000
accounts", the same reasoning as the rollout), per-account failures are already isolated inside
the task (UNKNOWN rows), and retrying the whole sweep is harmless (drift detection changes nothing).
The per-account detail a mapped task would show in the UI is in the report.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.sdk import DAG, Param, task

from fleet_airflow.alerts import FleetFailureNotifier
from fleet_airflow.hooks import fleet_context
from fleet_airflow.verdicts import fail

AWS_CONN_ID = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
DEFAULT_REPO = str(Path(__file__).resolve().parents[1] / "include")


def _load_config(params: dict):
    from fleet.config import ConfigError, load_config

    try:
        return load_config(Path(params["fleet_repo"]) / "fleet.yaml")
    except ConfigError as exc:  # a bad config is a verdict: retrying cannot fix it
        fail(f"the fleet config is not valid; nothing was checked:\n{exc}")


def _ctx(config):
    org = config.organization
    return fleet_context(AWS_CONN_ID, org.home_region, org.pipeline_role)


with DAG(
    dag_id="fleet_drift",
    description="Detect drift on every baseline stack in the fleet and write a drift report",
    schedule="0 5 * * *",  # daily, before the weekday rollout window (account_fleet_pipeline at 06:00)
    catchup=False,
    max_active_runs=1,
    on_failure_callback=FleetFailureNotifier(aws_conn_id=AWS_CONN_ID),  # one SNS message per failed run
    default_args={"owner": "platform-team", "retries": 2, "retry_delay": timedelta(minutes=1),
                  "retry_exponential_backoff": True},
    params={
        "fleet_repo": Param(DEFAULT_REPO, type="string", description="Folder of the fleet repository (holds fleet.yaml)"),
        "fail_on_drift": Param(True, type="boolean",
                               description="Fail the run when any baseline stack drifted or could not be checked "
                                           "(so alerting fires); false: succeed and only record the report"),
        "max_concurrent": Param(20, type="integer", minimum=1, maximum=100,
                                description="Stacks checked at the same time"),
    },
    tags=["fleet", "aws", "drift"],
    doc_md=__doc__,
) as dag:

    @task(multiple_outputs=True)
    def preflight(params: dict | None = None) -> dict:
        """Validate the config and check the connection is the management account named in it."""
        from fleet import source
        from fleet.aws import AccessError

        config = _load_config(params)
        org = config.organization
        try:
            _ctx(config).require_management_account(org.management_account)
        except AccessError as exc:  # the wrong account is a verdict too
            fail(str(exc))
        return {"region": org.home_region, "bucket": source.artifacts_bucket(org.management_account, org.home_region),
                "baselines": [b.name for b in config.baselines]}

    @task
    def detect(params: dict | None = None, run_id: str | None = None) -> dict:
        """Drift of every baseline stack; the full report goes to S3, a summary to XCom."""
        from fleet import drift

        fleet = _load_config(params)
        ctx = _ctx(fleet)
        report = drift.detect_fleet(ctx, fleet, max_concurrent=int(params["max_concurrent"]), run_id=run_id)
        locations = drift.write_report(ctx, fleet, report, run_id)
        print(f"drift report: {locations['json']} ({locations['txt']})")
        return drift.xcom_summary(report, locations)

    @task
    def report(summary: dict, params: dict | None = None, run_id: str | None = None) -> None:
        """Print the verdict; with fail_on_drift, drift (or a stack that could not be checked) fails the run.

        Drift found is an alert whatever fail_on_drift says; the number of drifted stacks is a metric."""
        from fleet_airflow.alerts import alert, metrics

        config = _load_config(params)
        ctx = _ctx(config)
        metrics(ctx, config, drifted_stacks=summary["drifted"])
        if summary["drifted"]:
            alert(ctx, config, "drift_found", dag_id="fleet_drift", run_id=run_id,
                  reason=f"{summary['text']}; report: {summary['report']['json']}",
                  detail={"not_in_sync": summary["not_in_sync"][:20]})
        print(summary["text"])
        for s in summary["not_in_sync"]:
            print(f"  {s['status']:<8} {s['account_name']} ({s['account_id']}) {s['region']} {s['stack_name']}: "
                  f"{s['resources']} drifted resources" + (f"; {s['error']}" if s.get("error") else ""))
        if summary["not_in_sync_omitted"]:
            print(f"  ... and {summary['not_in_sync_omitted']} more (see the report)")
        print(f"report: {summary['report']['txt']}")
        if params["fail_on_drift"] and (summary["drifted"] or summary["unknown"]):
            fail(f"{summary['text']}; report: {summary['report']['json']}")

    settings = preflight()
    artifacts_bucket = S3CreateBucketOperator(
        task_id="artifacts_bucket", bucket_name=settings["bucket"], region_name=settings["region"],
        aws_conn_id=AWS_CONN_ID)
    summary = detect()
    artifacts_bucket >> summary
    report(summary)
