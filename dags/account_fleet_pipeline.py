"""Account fleet management pipeline: Source -> Build -> Beta -> Gamma -> Prod.

Wiring only. Every task calls one function of the plain-Python core's stages (``fleet.stages.*``);
Beta and Gamma are ``fleet_airflow.environment.EnvironmentStage`` task groups; nothing here reads a
file or calls AWS at parse time. Source's ``preflight`` and ``snapshot`` and Prod's ``plan`` return
mappings with multiple outputs, so later tasks take single keys (``settings["region"]``,
``bundle["digest"]``). The Source stage's bundle travels to every later task as one small dict; each
task opens it once, so every stage after Source works on exactly the bytes the digest names.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.providers.amazon.aws.operators.s3 import S3CreateBucketOperator
from airflow.sdk import DAG, AssetOrTimeSchedule, CronTriggerTimetable, Param, TaskGroup, TriggerRule, task

from fleet_airflow.alerts import FleetFailureNotifier
from fleet_airflow.assets import VENDED_ACCOUNTS, fleet_pushes, pushed_commit, vended_account_ids
from fleet_airflow.environment import EnvironmentStage
from fleet_airflow.hitl import FleetUIApprovalOperator
from fleet_airflow.hooks import context_from_settings
from fleet_airflow.links import ProdPlanLink, RunReportLink, attach
from fleet_airflow.pools import PROD_ROLLOUT
from fleet_airflow.sensors import ExternalApprovalSensor
from fleet_airflow.verdicts import fail

AWS_CONN_ID = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
# Credentials for a git-URL fleet_repo (README: "Fleet repo from git"); absent: an anonymous remote.
GIT_CONN_ID = os.environ.get("FLEET_GIT_CONN_ID", "fleet_git")
# The fleet_repo Param's default, and so the repository a push-started run snapshots: a git URL in a
# deployment (FLEET_REPO_URL); FLEET_REPO, the folder `make demo` / `make up` give (a copy of include/
# with the demo approvers' public keys); the sample folder beside the DAGs otherwise.
DEFAULT_REPO = (os.environ.get("FLEET_REPO_URL") or os.environ.get("FLEET_REPO")
                or str(Path(__file__).resolve().parents[1] / "include"))
# Start on push (README: "Start on push"): the queue EventBridge / GitHub deliver pushes to, and the
# repository and branch whose pushes start a run. Deployment settings like the connection ids above,
# read from the environment: nothing is asked of AWS or read from a file at parse time.
PUSH_QUEUE_URL = os.environ.get("FLEET_PUSH_QUEUE_URL") or None
PUSH_REPOSITORY = os.environ.get("FLEET_PUSH_REPOSITORY", "fleet")
PUSH_BRANCH = os.environ.get("FLEET_PUSH_BRANCH", "main")
FLEET_PUSHES = fleet_pushes(PUSH_QUEUE_URL, PUSH_REPOSITORY, PUSH_BRANCH, aws_conn_id=AWS_CONN_ID)


def _ctx(settings: dict):
    return context_from_settings(AWS_CONN_ID, settings)


def _opened(ctx, bundle: dict):
    """The bundle the Source stage produced, opened once in this task (files and config)."""
    from fleet.bundle import Bundle

    return Bundle.from_dict(bundle).open(ctx)


with DAG(
    dag_id="account_fleet_pipeline",
    description="Deploy the fleet repository's baselines and products through Beta, Gamma and Prod",
    # Weekday mornings (rollouts land while the platform team is at work); whenever account_vending
    # announces new accounts (those get the fleet's baselines at once, through the same gates); and
    # on every push to the fleet repo's branch (either asset is enough).
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 6 * * 1-5", timezone="UTC"),
                                 assets=VENDED_ACCOUNTS | FLEET_PUSHES),
    catchup=False,
    max_active_runs=1,  # two rollouts of the same fleet at once would race on the same stacks
    # One SNS message per failed run (alerts.topic in the fleet config), naming the failing stage.
    on_failure_callback=FleetFailureNotifier(aws_conn_id=AWS_CONN_ID),
    default_args={"owner": "platform-team", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": True},
    params={
        "fleet_repo": Param(DEFAULT_REPO, type="string",
                            description="The fleet repository (holds fleet.yaml): a git URL (https, ssh, "
                                        "file://), or a folder every worker can read"),
        # Optional Params are nullable with a None default: the trigger form marks every other
        # type as required, and an empty string does not count as a value there.
        "source_ref": Param(None, type=["null", "string"],
                            description="Git ref to snapshot (a commit, branch or tag); empty for the working "
                                        "tree (a folder) or the remote's HEAD (a git URL)"),
        "targets": Param(None, type=["null", "array"], items={"type": "string"},
                         description="Limit the prod rollout to these account names or ids (one a line); "
                                     "empty for all"),
        "dry_run": Param(False, type="boolean",
                         description="Source, Build and the fleet-wide plan only: nothing is deployed"),
        "rerun_failed_only": Param(False, type="boolean",
                                   description="Prod: deploy only to accounts whose last attempt failed "
                                               "or never ran (per the ledger)"),
        # Three states, so a dropdown whose empty state says what it means (a switch shows it as "off").
        "approval_ui": Param(None, type=["null", "boolean"], enum=[None, True, False],
                             values_display={"None": "as the fleet config says (approval.ui)",
                                             "null": "as the fleet config says (approval.ui)",
                                             "true": "on: also in Required actions",
                                             "false": "off: `fleet approve` only"},
                             description="Also offer the prod decision in the Airflow UI (Required actions); "
                                         "empty: as approval.ui in the fleet config says"),
    },
    tags=["fleet", "aws"],
    doc_md=__doc__,
    render_template_as_native_obj=True,  # XCom-templated lists and numbers stay lists and numbers
) as dag:

    with TaskGroup("source") as source:

        @task(multiple_outputs=True)
        def preflight(params: dict | None = None, triggering_asset_events=None) -> dict:
            """Validate the config and check the connection is the management account named in it."""
            from fleet.config import ConfigError
            from fleet.pushevents import PushEventError
            from fleet.stages import source as stage
            from fleet_airflow.gitsource import git_auth

            # Started by a push: snapshot the pushed commit (unless the source_ref Param names one).
            try:
                push = pushed_commit(triggering_asset_events, PUSH_REPOSITORY, PUSH_BRANCH)
            except PushEventError as exc:  # a deleted branch, or a message the filter let through
                fail(f"{exc}; nothing was deployed")
            ref = params.get("source_ref") or (push.commit if push else None)
            if push:
                print(f"triggered by a {push.source} push to {push.repository} {push.branch}: commit {push.commit}")
            # A git URL is cloned here and its ref resolved to a commit: the snapshot takes that commit.
            repo, ref = stage.local_repo(params["fleet_repo"], ref, git_auth(GIT_CONN_ID))
            try:
                config = stage.read_config(repo)
            except ConfigError as exc:  # a bad config is a verdict: retrying cannot fix it
                fail(f"the fleet config is not valid; nothing was deployed:\n{exc}")
            org = config.organization
            # Scheduled by account_vending: roll out to the accounts it just made (unless the Param says);
            # a push in the same run changed the fleet's code, which goes to every account.
            targets = list(params["targets"] or []) or ([] if push else vended_account_ids(triggering_asset_events))
            if targets and not params["targets"]:
                print(f"triggered by {VENDED_ACCOUNTS.name}: prod targets {', '.join(targets)}")
            ctx = _ctx({"region": org.home_region, "pipeline_role": org.pipeline_role})
            return {**stage.preflight(ctx, config, targets), "source_ref": ref}

        @task(multiple_outputs=True)
        def snapshot(settings: dict, params: dict | None = None) -> dict:
            from fleet.gitsource import GitSourceError, is_git_url
            from fleet.source import SourceError
            from fleet.stages import source as stage
            from fleet_airflow.gitsource import git_auth

            ctx = _ctx(settings)
            try:
                repo, ref = stage.local_repo(params["fleet_repo"], settings.get("source_ref"), git_auth(GIT_CONN_ID))
                bundle = stage.snapshot_and_upload(ctx, repo, ref=ref)
            except (SourceError, GitSourceError) as exc:  # a bad ref or a git failure: retrying cannot fix it
                fail(f"source snapshot failed: {exc}")
            # Separation of duties: who wrote the commits since the last prod rollout may not approve.
            found_authors, since = stage.commit_authors(ctx, bundle, repo)
            if is_git_url(params["fleet_repo"]):
                # The history scan runs in this task's clone; the build stage reads its findings from S3.
                found = stage.scan_history(ctx, bundle, repo)
                print(f"git history of {bundle.commit}: {len(found['findings'])} finding(s)")
            print(f"bundle {bundle.digest} commit {bundle.commit}: {bundle.files} files, "
                  f"{'uploaded' if bundle.uploaded else 'already in'} s3://{bundle.bucket}/{bundle.key}")
            print(f"authors since {since[:12] if since else 'the first commit'}: {', '.join(found_authors) or '-'}")
            return {**bundle.to_dict(), "authors": found_authors, "authors_since": since}

        settings = preflight()
        artifacts_bucket = S3CreateBucketOperator(
            task_id="artifacts_bucket", bucket_name=settings["bucket"], region_name=settings["region"],
            aws_conn_id=AWS_CONN_ID)
        bundle = snapshot(settings)
        artifacts_bucket >> bundle

    with TaskGroup("build") as build:

        @task
        def gates(settings: dict, bundle: dict, params: dict | None = None) -> dict:
            from fleet.stages import build as stage

            from fleet.bundle import Bundle
            from fleet.gitsource import is_git_url

            ctx = _ctx(settings)
            from_git = is_git_url(params["fleet_repo"])
            verdict = stage.gates(ctx, _opened(ctx, bundle), None if from_git else Path(params["fleet_repo"]),
                                  history=stage.stored_history(ctx, Bundle.from_dict(bundle)) if from_git else None)
            from fleet.display import escape

            for f in verdict["findings"]:  # file names come from the repo: control characters escaped
                where = f"{f['file']}:{f['line']}" if f.get("line") else f["file"]
                print(escape(f"[{f['gate']}] {f['severity']} {where} {f['rule']}: {f['message']}"))
            print(f"gates: {verdict['errors']} errors, {verdict['warnings']} warnings")
            if "purge_plan" in verdict:  # rewriting history is someone's decision, never a run's side effect
                print(f"git history holds a secret: purge plan at {verdict['purge_plan']}; "
                      f"to purge it: {verdict['cleanse']}")
            if verdict["errors"]:
                fail(f"build gates found {verdict['errors']} error(s); nothing is deployed")
            return {"errors": verdict["errors"], "warnings": verdict["warnings"]}

        gates(settings, bundle)

    beta = EnvironmentStage("beta").build(settings=settings, bundle=bundle, aws_conn_id=AWS_CONN_ID)
    gamma = EnvironmentStage("gamma", bake=True).build(settings=settings, bundle=bundle, aws_conn_id=AWS_CONN_ID)

    with TaskGroup("prod") as prod:

        # "None failed": a dry run skips Beta and Gamma, not the plan.
        @task(multiple_outputs=True, trigger_rule=TriggerRule.NONE_FAILED)
        def plan(settings: dict, bundle: dict, params: dict | None = None, run_id: str | None = None) -> dict:
            from airflow.sdk import get_current_context

            from fleet.stages import prod as stage

            ctx = _ctx(settings)
            try:
                prod_plan = stage.plan(ctx, _opened(ctx, bundle), run_id=run_id, only=settings.get("targets") or None)
            except stage.NoTargets as exc:  # a typo or an empty OU is a verdict, not an empty plan to approve
                fail(str(exc))
            context = get_current_context()
            ProdPlanLink.persist_location(context, context["task"], ctx=ctx, location=prod_plan["location"])
            print(f"plan {prod_plan['plan_digest'][:12]}: {prod_plan['summary']} ({prod_plan['location']})")
            for row in prod_plan["accounts"]:
                print(f"  {row['account_name']}/{row['region']}: {row['status']} +{row['adds']} ~{row['modifies']} "
                      f"-{row['deletions']} replace {row['replacements']} iam {row['iam_changes']}")
            return prod_plan

        @task.branch
        def gate(plan: dict, params: dict | None = None) -> list[str]:
            """Dry run: stop after the plan. Empty plan (and allowed): no human needed. Else: wait."""
            if params["dry_run"]:
                return []
            return ["prod.auto_approve"] if plan["auto_approve"] else ["prod.approval"]

        @task
        def auto_approve(settings: dict, bundle: dict, plan: dict, run_id: str | None = None) -> dict:
            from fleet.stages import prod as stage

            ctx = _ctx(settings)
            try:  # verified by planning again, not by a key: the pipeline holds none
                record = stage.record_automatic_approval(ctx, _opened(ctx, bundle), run_id, plan,
                                                         only=settings.get("targets") or None)
            except stage.NotEmpty as exc:
                fail(f"no automatic approval: {exc}")
            print(f"no change in any account: approved automatically ({record['reason']})")
            return record

        @task(pool=PROD_ROLLOUT, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        def rollout(settings: dict, bundle: dict, plan_digest: str, params: dict | None = None,
                    run_id: str | None = None, ti=None) -> dict:
            from airflow.sdk.exceptions import AirflowSkipException

            from fleet.plan import PlanMismatch
            from fleet.stages import prod as stage

            # Its trigger rule lets it run after either gate; its inputs (source tasks) also count as
            # upstream successes, so the decision itself is checked: no decision, no deployment.
            if params["dry_run"] or not (ti.xcom_pull(task_ids="prod.approval")
                                         or ti.xcom_pull(task_ids="prod.auto_approve")):
                raise AirflowSkipException("no approval decision for this run (dry run): nothing is deployed")

            import time

            from fleet_airflow.alerts import alert, rollout_metrics

            ctx = _ctx(settings)
            opened = _opened(ctx, bundle)
            started = time.monotonic()
            try:  # the approved plan binds the rollout: its accounts, its change sets
                result = stage.run_rollout(ctx, opened, run_id=run_id, only=settings.get("targets") or None,
                                           rerun_failed_only=params["rerun_failed_only"], try_number=ti.try_number,
                                           plan_digest=plan_digest)
            except PlanMismatch as exc:
                fail(str(exc))
            rollout_metrics(ctx, opened.config, time.monotonic() - started)
            if not result["halted"]:
                from fleet import authors

                authors.record_deployed(ctx, opened.bucket, digest=opened.digest, commit=bundle.get("commit"),
                                        run_id=run_id)
            if result["halted"]:
                ti.xcom_push(key="return_value", value=result)  # the run report names every account from it
                failed = [a for w in result["waves"] for a in w["failed_accounts"]]
                why = (f"rollout halted: failed {', '.join(failed)}; put back on last good: "
                       f"{sum(len(w['rolled_back']) for w in result['waves'])} stacks; never touched: "
                       f"{', '.join(result['not_started']) or 'none'}")
                alert(ctx, opened.config, "wave_halted", dag_id=ti.dag_id, run_id=run_id, reason=why)
                fail(why)
            return result

        @task
        def service_catalog(settings: dict, bundle: dict) -> dict:
            from fleet.stages import catalog as stage

            ctx = _ctx(settings)
            published = stage.publish(ctx, _opened(ctx, bundle))
            for p in published["products"]:
                print(f"{p['product']} {p['version']} ({'new' if p['created'] else 'already published'})"
                      + (f", deprecated {', '.join(p['deprecated'])}" if p["deprecated"] else ""))
            print(f"launch role in {len(published['launch_roles'])} accounts; share accepted in "
                  f"{len(published['accepted'])}; {published['changes']} change(s)")
            return published

        @task
        def catalog_smoke_test(settings: dict, bundle: dict, published: dict) -> dict:
            """An end user launches the new version in a canary account; checked through S3; terminated."""
            from fleet.stages import catalog as stage

            ctx = _ctx(settings)
            result = stage.smoke_test(ctx, _opened(ctx, bundle), published)
            if not result["ok"]:
                fail("catalog smoke test failed: " + "; ".join(result["failed"]))
            return result

        prod_plan = attach(plan(settings, bundle), ProdPlanLink())
        decided = gate(prod_plan)
        automatic = auto_approve(settings, bundle, prod_plan)
        # The one prod gate. It judges every decision record, whichever path wrote it: `fleet approve`
        # or prod.ui_approval (the Airflow UI), which runs first when UI approval is on and is skipped
        # otherwise; hence "none failed": a skipped UI task must not skip the gate.
        approval = ExternalApprovalSensor(
            task_id="approval", bucket=settings["bucket"], region_name=settings["region"],
            pipeline_role=settings["pipeline_role"], bundle_digest=bundle["digest"],
            plan_digest=prod_plan["plan_digest"], summary=prod_plan["summary"], approvers=settings["approvers"],
            timeout_hours=settings["timeout_hours"], aws_conn_id=AWS_CONN_ID, authors=bundle["authors"],
            commit=bundle["commit"], fleet_repo="{{ params.fleet_repo }}", source_ref=settings["source_ref"],
            targets=prod_plan["accounts"],
            poll_interval=5, trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
        ui_approval = FleetUIApprovalOperator(
            task_id="ui_approval", bucket=settings["bucket"], region_name=settings["region"],
            pipeline_role=settings["pipeline_role"], bundle_digest=bundle["digest"],
            plan_digest=prod_plan["plan_digest"], summary=prod_plan["summary"],
            auto_approved=prod_plan["auto_approve"], approvers=settings["approvers"],
            timeout_hours=settings["timeout_hours"], aws_conn_id=AWS_CONN_ID)
        prod_plan >> ui_approval >> approval
        deployed = rollout(settings, bundle, prod_plan["plan_digest"])
        decided >> [approval, automatic]
        published = service_catalog(settings, bundle)
        [approval, automatic] >> deployed >> published
        catalog_smoke_test(settings, bundle, published)

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def run_report(ti=None, run_id: str | None = None, dag_run=None) -> dict:
        """Always runs: the ops view of every stage and account, stored beside the bundle in S3 and
        shown on the Fleet page (``/fleet/runs/<run id>``, the task's "Run report" link).

        It pulls what it needs itself, because an upstream stage that failed left no XCom to pass in.
        """
        from airflow.sdk import get_current_context

        from fleet_airflow.report import REPORTED_TASKS, write_report
        from fleet_airflow.verdicts import REASON_KEY

        states = ti.get_task_states(dag_id=ti.dag_id, run_ids=[run_id]).get(run_id, {})
        xcoms = {t: ti.xcom_pull(task_ids=t) for t in REPORTED_TASKS}
        reasons = {t: ti.xcom_pull(task_ids=t, key=REASON_KEY) for t, s in states.items() if str(s) == "failed"}
        preflight_settings = xcoms.get("source.preflight")
        ctx = _ctx(preflight_settings) if preflight_settings else None
        report = write_report(ctx, run_id, states, xcoms, reasons)
        if report["location"]:
            context = get_current_context()
            RunReportLink.persist_location(context, context["task"], ctx=ctx, location=report["location"])
        print(report["text"])
        if report["status"] == "failed":
            # The report is the DAG's last task, so its state is the run's state: a failed stage must
            # not end as a green run just because its report was written.
            first = report["report"]["failures"][0] if report["report"]["failures"] else None
            where = f"{first['stage']} stage, task {first['task']}: {first['reason']}" if first else "see the stages"
            stored = (f"report: /fleet/runs/{run_id} ({report['location']})" if report["location"] else
                      "the report was not stored (the run stopped before its bundle was made)")
            fail(f"the run failed at the {where}; {stored}")
        return {"report": report["location"], "page": f"/fleet/runs/{run_id}", "status": report["status"]}

    build >> beta >> gamma >> prod
    [prod, build] >> attach(run_report(), RunReportLink())
