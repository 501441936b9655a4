"""Account fleet management pipeline: Source -> Build -> Beta -> Gamma -> Prod.

Wiring only. Every task calls one function of the plain-Python core's stages (``fleet.stages.*``);
nothing here reads a file or calls AWS at parse time. The Source stage's bundle travels to every
later task as one small dict; each task opens it once, so every stage after Source works on exactly
the bytes the digest names.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, TaskGroup, TriggerRule, task

from fleet_airflow.assets import VENDED_ACCOUNTS
from fleet_airflow.bake import BakeSensor
from fleet_airflow.hitl import FleetUIApprovalOperator
from fleet_airflow.pools import PROD_ROLLOUT
from fleet_airflow.sensors import ExternalApprovalSensor, StacksSettledSensor

AWS_CONN_ID = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
DEFAULT_REPO = str(Path(__file__).resolve().parents[1] / "include")
PRE = "source.preflight"


def _ctx(pre: dict):
    from fleet_airflow.hooks import FleetAwsHook

    return FleetAwsHook(aws_conn_id=AWS_CONN_ID).fleet_context(pre["region"], pre["pipeline_role"])


def _opened(ctx, bundle: dict):
    """The bundle the Source stage produced, opened once in this task (files and config)."""
    from fleet.bundle import Bundle

    return Bundle.from_dict(bundle).open(ctx)


def _approval_key() -> bytes:
    from airflow.sdk import Connection

    return Connection.get("fleet_approval").password.encode()


def _vended_accounts(events) -> list[str]:
    """Account ids from the fleet_vended_accounts events that triggered this run (none for a cron run)."""
    found: list[str] = []
    for event in (events or {}).get(VENDED_ACCOUNTS, []) if events else []:
        found += [a["id"] for a in (event.extra or {}).get("accounts", []) if a.get("id")]
    return list(dict.fromkeys(found))


def _fail(message: str):
    from airflow.sdk.exceptions import AirflowFailException

    # A verdict (findings, failed checks, a halted rollout) is not retried: retrying cannot change it.
    raise AirflowFailException(message)


with DAG(
    dag_id="account_fleet_pipeline",
    description="Deploy the fleet repository's baselines and products through Beta, Gamma and Prod",
    # Weekday mornings (rollouts land while the platform team is at work), and whenever account_vending
    # announces new accounts: those get the fleet's baselines at once, through the same gates.
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * 1-5", timezone="UTC"),
                                 assets=[VENDED_ACCOUNTS]),
    catchup=False,
    max_active_runs=1,  # two rollouts of the same fleet at once would race on the same stacks
    default_args={"owner": "platform-team", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": True},
    params={
        "fleet_repo": Param(DEFAULT_REPO, type="string",
                            description="Folder of the fleet repository (holds fleet.yaml)"),
        "source_ref": Param("", type="string",
                            description="Git ref to snapshot; empty for the working tree"),
        "targets": Param([], type="array", items={"type": "string"},
                         description="Limit the prod rollout to these account names or ids; empty for all"),
        "dry_run": Param(False, type="boolean",
                         description="Source, Build and the fleet-wide plan only: nothing is deployed"),
        "rerun_failed_only": Param(False, type="boolean",
                                   description="Prod: deploy only to accounts whose last attempt failed "
                                               "or never ran (per the ledger)"),
        "approval_ui": Param(None, type=["null", "boolean"],
                             description="Also offer the prod decision in the Airflow UI (Required actions); "
                                         "empty: as approval.ui in the fleet config says"),
        "cleanse_history": Param(False, type="boolean",
                                 description="When git history holds a secret, rewrite the source "
                                             "remote's history with git-filter-repo and rescan"),
    },
    tags=["fleet", "aws"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # XCom-templated lists and numbers stay lists and numbers
) as dag:

    with TaskGroup("source") as source:

        @task(multiple_outputs=True)  # later tasks take single settings (bucket, region, ...) from it
        def preflight(params: dict | None = None, triggering_asset_events=None) -> dict:
            """Validate the config and check the connection is the management account named in it."""
            from fleet.config import ConfigError
            from fleet.stages import source as stage

            try:
                config = stage.read_config(Path(params["fleet_repo"]))
            except ConfigError as exc:  # a bad config is a verdict: retrying cannot fix it
                _fail(f"the fleet config is not valid; nothing was deployed:\n{exc}")
            org = config.organization
            # Scheduled by account_vending: roll out to the accounts it just made (unless the Param says).
            targets = list(params["targets"]) or _vended_accounts(triggering_asset_events)
            if targets and not params["targets"]:
                print(f"triggered by {VENDED_ACCOUNTS.name}: prod targets {', '.join(targets)}")
            ctx = _ctx({"region": org.home_region, "pipeline_role": org.pipeline_role})
            return stage.preflight(ctx, config, targets)

        pre = preflight()
        artifacts_bucket = S3CreateBucketOperator(
            task_id="artifacts_bucket", bucket_name=pre["bucket"], region_name=pre["region"],
            aws_conn_id=AWS_CONN_ID)

        @task(multiple_outputs=True)  # the bundle travels whole; the approval tasks take its bucket and digest
        def snapshot(pre: dict, params: dict | None = None) -> dict:
            from fleet.stages import source as stage

            bundle = stage.snapshot_and_upload(_ctx(pre), Path(params["fleet_repo"]),
                                               ref=params.get("source_ref") or None)
            print(f"bundle {bundle.digest} commit {bundle.commit}: {bundle.files} files, "
                  f"{'uploaded' if bundle.uploaded else 'already in'} s3://{bundle.bucket}/{bundle.key}")
            return bundle.to_dict()

        bundle = snapshot(pre)
        pre >> artifacts_bucket >> bundle

    with TaskGroup("build") as build:

        @task
        def gates(pre: dict, bundle: dict, params: dict | None = None) -> dict:
            from fleet.stages import build as stage

            ctx = _ctx(pre)
            doc = stage.gates(ctx, _opened(ctx, bundle), Path(params["fleet_repo"]),
                              cleanse_history=params["cleanse_history"])
            for f in doc["findings"]:
                where = f"{f['file']}:{f['line']}" if f.get("line") else f["file"]
                print(f"[{f['gate']}] {f['severity']} {where} {f['rule']}: {f['message']}")
            print(f"gates: {doc['errors']} errors, {doc['warnings']} warnings")
            if "purge_plan" in doc:
                print(f"git history holds a secret: purge plan at {doc['purge_plan']}")
            if "cleansed" in doc:
                print(f"history cleansing: {doc['cleansed']}")
            if doc["errors"]:
                _fail(f"build gates found {doc['errors']} error(s); nothing is deployed")
            return {"errors": doc["errors"], "warnings": doc["warnings"]}

        build_result = gates(pre, bundle)

    def environment(name: str, health: bool):
        with TaskGroup(name) as group:

            @task(task_id="deploy")
            def deploy(pre: dict, bundle: dict, params: dict | None = None) -> list[dict]:
                from airflow.sdk.exceptions import AirflowSkipException

                from fleet.stages import environment as stage

                if params["dry_run"]:
                    # Skips cascade through the environments; prod.plan still runs (trigger rule).
                    raise AirflowSkipException("dry run: nothing is deployed")
                ctx = _ctx(pre)
                return stage.start_deployments(ctx, _opened(ctx, bundle), name)

            @task(task_id="integration_tests")
            def integration_tests(pre: dict, bundle: dict, deployments: list[dict], run_id: str | None = None) -> dict:
                from fleet.bundle import Bundle
                from fleet.stages import environment as stage

                doc = stage.integration_tests(_ctx(pre), deployments, health=health, bundle=Bundle.from_dict(bundle),
                                              run_id=run_id)
                for c in doc["checks"]:
                    print(f"{'PASS' if c['ok'] else 'FAIL'} {c['account_name']}/{c['region']} {c['name']}: {c['detail']}")
                problems = doc["failed_deployments"] + doc["failed_checks"]
                if problems:
                    _fail(f"{name}: " + "; ".join(problems))
                return doc

            deployments = deploy(pre, bundle)
            settled = StacksSettledSensor(
                task_id="wait_for_stacks", deployments=deployments, region=pre["region"],
                pipeline_role=pre["pipeline_role"], aws_conn_id=AWS_CONN_ID, poll_interval=15,
                timeout=3600)
            tested = integration_tests(pre, bundle, deployments)
            deployments >> settled >> tested
            if health:
                bake = BakeSensor(
                    task_id="bake", deployments=deployments, bundle=bundle, region=pre["region"],
                    pipeline_role=pre["pipeline_role"], bake_minutes=pre["bake_minutes"],
                    aws_conn_id=AWS_CONN_ID, poll_interval=30)
                tested >> bake
        return group

    beta = environment("beta", health=False)
    gamma = environment("gamma", health=True)

    with TaskGroup("prod") as prod:

        # A dry run skips Beta and Gamma, not the plan; the approval tasks take single keys of it.
        @task(trigger_rule=TriggerRule.NONE_FAILED, multiple_outputs=True)
        def plan(pre: dict, bundle: dict, params: dict | None = None, run_id: str | None = None) -> dict:
            from fleet.stages import prod as stage

            ctx = _ctx(pre)
            doc = stage.plan(ctx, _opened(ctx, bundle), run_id=run_id, only=pre.get("targets") or None)
            print(f"plan {doc['plan_digest'][:12]}: {doc['summary']} ({doc['location']})")
            for row in doc["accounts"]:
                print(f"  {row['account_name']}/{row['region']}: {row['status']} +{row['adds']} ~{row['modifies']} "
                      f"-{row['deletions']} replace {row['replacements']} iam {row['iam_changes']}")
            return doc

        @task.branch
        def gate(plan: dict, params: dict | None = None) -> list[str]:
            """Dry run: stop after the plan. Empty plan (and allowed): no human needed. Else: wait."""
            if params["dry_run"]:
                return []
            return ["prod.auto_approve"] if plan["auto_approve"] else ["prod.approval"]

        @task
        def auto_approve(pre: dict, bundle: dict, plan: dict, run_id: str | None = None) -> dict:
            from fleet.stages import prod as stage

            ctx = _ctx(pre)
            record = stage.record_automatic_approval(ctx, _opened(ctx, bundle), run_id, plan, _approval_key())
            print(f"no change in any account: approved automatically ({record['reason']})")
            return record

        @task(pool=PROD_ROLLOUT, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def rollout(pre: dict, bundle: dict, params: dict | None = None, run_id: str | None = None,
                    ti=None) -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from fleet.stages import prod as stage

            # Its trigger rule lets it run after either gate; its inputs (source tasks) also count as
            # upstream successes, so the decision itself is checked: no decision, no deployment.
            if params["dry_run"] or not (ti.xcom_pull(task_ids="prod.approval")
                                         or ti.xcom_pull(task_ids="prod.auto_approve")):
                raise AirflowSkipException("no approval decision for this run (dry run): nothing is deployed")

            ctx = _ctx(pre)
            doc = stage.run_rollout(ctx, _opened(ctx, bundle), run_id=run_id, only=pre.get("targets") or None,
                                    rerun_failed_only=params["rerun_failed_only"])
            if doc["halted"]:
                ti.xcom_push(key="return_value", value=doc)  # the run report names every account from it
                failed = [a for w in doc["waves"] for a in w["failed_accounts"]]
                _fail(f"rollout halted: failed {', '.join(failed)}; put back on last good: "
                      f"{sum(len(w['rolled_back']) for w in doc['waves'])} stacks; never touched: "
                      f"{', '.join(doc['not_started']) or 'none'}")
            return doc

        @task
        def service_catalog(pre: dict, bundle: dict) -> dict:
            from fleet.stages import catalog as stage

            ctx = _ctx(pre)
            doc = stage.publish(ctx, _opened(ctx, bundle))
            for p in doc["products"]:
                print(f"{p['product']} {p['version']} ({'new' if p['created'] else 'already published'})"
                      + (f", deprecated {', '.join(p['deprecated'])}" if p["deprecated"] else ""))
            print(f"launch role in {len(doc['launch_roles'])} accounts; share accepted in {len(doc['accepted'])}; "
                  f"{doc['changes']} change(s)")
            return doc

        @task
        def catalog_smoke_test(pre: dict, bundle: dict, published: dict) -> dict:
            """An end user launches the new version in a canary account; checked through S3; terminated."""
            from fleet.stages import catalog as stage

            ctx = _ctx(pre)
            doc = stage.smoke_test(ctx, _opened(ctx, bundle), published)
            if not doc["ok"]:
                _fail("catalog smoke test failed: " + "; ".join(doc["failed"]))
            return doc

        prod_plan = plan(pre, bundle)
        decided = gate(prod_plan)
        automatic = auto_approve(pre, bundle, prod_plan)
        # The one prod gate. It judges every decision record, whichever path wrote it: `fleet approve`
        # or prod.ui_approval (the Airflow UI), which runs first when UI approval is on and is skipped
        # otherwise; hence "none failed": a skipped UI task must not skip the gate.
        approval = ExternalApprovalSensor(
            task_id="approval", bucket=bundle["bucket"], region=pre["region"], pipeline_role=pre["pipeline_role"],
            bundle_digest=bundle["digest"], plan_digest=prod_plan["plan_digest"], summary=prod_plan["summary"],
            approvers=pre["approvers"], timeout_hours=pre["timeout_hours"], aws_conn_id=AWS_CONN_ID, poll_interval=5,
            trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        ui_approval = FleetUIApprovalOperator(
            task_id="ui_approval", bucket=bundle["bucket"], region=pre["region"], pipeline_role=pre["pipeline_role"],
            bundle_digest=bundle["digest"], plan_digest=prod_plan["plan_digest"], summary=prod_plan["summary"],
            auto_approved=prod_plan["auto_approve"], approvers=pre["approvers"], timeout_hours=pre["timeout_hours"],
            aws_conn_id=AWS_CONN_ID)
        prod_plan >> ui_approval >> approval
        deployed = rollout(pre, bundle)
        decided >> [approval, automatic]
        [approval, automatic] >> deployed >> service_catalog(pre, bundle)
        catalog_smoke_test(pre, bundle, dag.get_task("prod.service_catalog").output)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def run_report(ti=None, run_id: str | None = None, dag_run=None) -> dict:
        """Always runs: the ops view of every stage and account, stored beside the bundle in S3.

        It pulls what it needs itself, because an upstream stage that failed left no XCom to pass in.
        """
        from fleet_airflow.report import REPORTED_TASKS, write_report

        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
        xcoms = {t: ti.xcom_pull(task_ids=t) for t in REPORTED_TASKS}
        pre = xcoms.get(PRE)
        doc = write_report(_ctx(pre) if pre else None, run_id, states, xcoms)
        print(doc["text"])
        if doc["status"] == "failed":
            # The report is the DAG's last task, so its state is the run's state: a failed stage must
            # not end as a green run just because its report was written.
            _fail(f"the run failed; report at {doc['location']}")
        return {"report": doc["location"], "status": doc["status"]}

    build >> beta >> gamma >> prod
    [prod, build] >> run_report()
