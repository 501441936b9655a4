"""Account vending: request accounts, wait until each is usable, make it a fleet member.

Requests come from the ``accounts`` Param (a list of {name, email, ou, tags}) or, when it is empty,
from the fleet config's accounts that are not in the organization yet. Per request, in a mapped
task group: ``request`` (CreateAccount, or Control Tower's Account Factory when the config's
``vending.backend`` says so) -> ``wait_ready`` (deferrable: creation, pipeline role, regions) ->
``set_up`` (OU, tags, SCPs, GuardDuty / Security Hub with its standards / Macie, baseline stacks).
``announce`` then updates the ``fleet_vended_accounts`` asset, which schedules
account_fleet_pipeline for the new accounts, and ``report`` gives every request its one outcome:
created, existed or failed with AWS's reason.

Wiring only: each task calls the core (``fleet.accounts``, ``fleet.account_setup``); nothing here
reads a file or calls AWS at parse time. Every account operation runs in the ``fleet_account_ops``
pool (README, "Pools").
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from airflow.sdk import DAG, Param, TriggerRule, WeightRule, task, task_group

from fleet_airflow.alerts import FleetFailureNotifier
from fleet_airflow.assets import VENDED_ACCOUNTS
from fleet_airflow.hooks import context_from_settings
from fleet_airflow.pools import ACCOUNT_OPS
from fleet_airflow.sensors import AccountReadySensor
from fleet_airflow.verdicts import fail

AWS_CONN_ID = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
DEFAULT_REPO = str(Path(__file__).resolve().parents[1] / "include")


def _ctx(settings: dict):
    return context_from_settings(AWS_CONN_ID, settings)


def _name_map_index(request: dict) -> None:
    """Give a mapped task's map_index_template its account name (Airflow renders it from the context)."""
    from airflow.sdk import get_current_context

    get_current_context()["account_name"] = request["name"]


def _fleet(settings: dict):
    from fleet.config import load_config

    return load_config(Path(settings["fleet_repo"]) / "fleet.yaml")


with DAG(
    dag_id="account_vending",
    description="Create AWS accounts, wait until they are usable, and make them fleet members",
    schedule=None,  # on demand: from the UI with the accounts Param, or by the API
    catchup=False,
    on_failure_callback=FleetFailureNotifier(aws_conn_id=AWS_CONN_ID),  # one SNS message per failed run
    default_args={"owner": "platform-team", "retries": 2, "retry_delay": timedelta(seconds=30),
                  "retry_exponential_backoff": True,
                  # Finish the accounts already under way before starting new ones: with the pool's
                  # slots, no more than its size are in operation at once.
                  "weight_rule": WeightRule.UPSTREAM},
    params={
        "fleet_repo": Param(DEFAULT_REPO, type="string", description="Folder of the fleet repository (holds fleet.yaml)"),
        # Nullable so the trigger form can be submitted empty. The OU cannot be an enum: the config is
        # not read at parse time, so the plan task checks it and names the config's OUs when wrong.
        "accounts": Param(None, type=["null", "array"], maxItems=20,
                          items={"type": "object", "required": ["name", "email", "ou"],
                                 "properties": {"name": {"type": "string", "maxLength": 64},
                                                "email": {"type": "string", "maxLength": 64},
                                                "ou": {"type": "string",
                                                       "description": "an OU declared under ous in fleet.yaml"},
                                                "tags": {"type": "object", "maxProperties": 50}}},
                          description="Accounts to vend (at most 20 a run): [{name, email, ou, tags}], ou one "
                                      "of the OUs under ous in fleet.yaml (checked when the run starts, with "
                                      "AWS's limits: email up to 64 characters, up to 50 tags, no aws: keys). "
                                      "Empty: the fleet config's accounts that are not in the organization yet"),
        "readiness_timeout_minutes": Param(None, type=["null", "number"], exclusiveMinimum=0, maximum=1440,
                                           description="At most 1440 (a day). Empty: "
                                                       "vending.readiness_timeout_minutes from the config"),
        # The form keeps the config's name; the tasks call it poll_interval, as every fleet wait does.
        # At least 5 s: every check calls AWS (the core refuses less; README, "Account vending").
        "poll_seconds": Param(None, type=["null", "number"], maximum=3600,
                              description="Seconds between readiness checks, 5 to 3600. Empty: "
                                          "vending.poll_seconds from the config"),
    },
    tags=["fleet", "aws", "accounts"],
    doc_md=__doc__,
    render_template_as_native_obj=True,
) as dag:

    @task(multiple_outputs=True)
    def preflight(params: dict | None = None) -> dict:
        """Validate the config, check the connection is the management account, settle the settings."""
        from fleet.config import ConfigError, load_config
        from fleet_airflow.hooks import fleet_context

        repo = params["fleet_repo"]
        try:
            fleet = load_config(Path(repo) / "fleet.yaml")
        except ConfigError as exc:
            fail(f"the fleet config is not valid; no account was requested:\n{exc}")
        org, vending = fleet.organization, fleet.vending
        fleet_context(AWS_CONN_ID, org.home_region, org.pipeline_role) \
            .require_management_account(org.management_account)
        from fleet.accounts import VendingParamError, readiness_settings

        try:
            timeout_seconds, poll_interval = readiness_settings(vending, params.get("readiness_timeout_minutes"),
                                                                params.get("poll_seconds"))
        except VendingParamError as exc:
            fail(f"{exc}; no account was requested")
        return {"fleet_repo": repo, "region": org.home_region, "pipeline_role": org.pipeline_role,
                "regions": list(org.regions), "backend": vending.backend,
                "timeout_seconds": timeout_seconds, "poll_interval": poll_interval}

    @task
    def plan(settings: dict, params: dict | None = None) -> list[dict]:
        """The requests: the accounts Param, else the config's accounts not in the organization yet."""
        from fleet import accounts
        from fleet.config import ConfigError

        try:
            requests = accounts.plan_requests(_ctx(settings), _fleet(settings), params.get("accounts") or [])
        except ConfigError as exc:
            fail(f"the accounts Param is not valid; no account was requested:\n{exc}")
        print(f"{len(requests)} account request(s) through {settings['backend']}: "
              f"{', '.join(r.name for r in requests) or 'none (every config account is in the organization)'}")
        return [r.to_dict() for r in requests]

    settings = preflight()
    requests = plan(settings)

    @task_group(group_id="vend")
    def vend(request: dict):

        # The grid names each mapped request by its account, not by its map index.
        @task(pool=ACCOUNT_OPS, retries=3, map_index_template="{{ account_name }}")
        def request_account(request: dict, settings: dict, run_id: str | None = None) -> dict:
            """CreateAccount / ProvisionProduct unless the account exists or is already under way."""
            from fleet import accounts

            _name_map_index(request)
            fleet = _fleet(settings)
            out = accounts.request_account(_ctx(settings), accounts.Request.of(request), vending=fleet.vending,
                                           run_id=run_id)
            print(f"account {out.name} <{out.email}>: {out.status}"
                  f"{f' ({out.account_id})' if out.account_id else ''}{f': {out.reason}' if out.reason else ''}")
            if out.status == "failed":
                fail(f"account {out.name} <{out.email}>: {out.reason}")
            return {**out.to_dict(), "ou": request["ou"]}

        started = request_account(request, settings)
        ready = AccountReadySensor(
            task_id="wait_ready", outcome=started, regions=settings["regions"],
            timeout_seconds=settings["timeout_seconds"], poll_interval=settings["poll_interval"],
            region_name=settings["region"], pipeline_role=settings["pipeline_role"], aws_conn_id=AWS_CONN_ID,
            pool=ACCOUNT_OPS)

        @task(pool=ACCOUNT_OPS, map_index_template="{{ account_name }}")
        def set_up(request: dict, ready: dict, settings: dict, run_id: str | None = None) -> dict:
            """OU, tags, SCPs, guardrail services, baseline stacks; "already" steps change nothing."""
            from fleet import account_setup
            from fleet.vending_log import RequestLog

            _name_map_index(request)
            ctx = _ctx(settings)
            log = RequestLog(ctx)
            try:
                steps = account_setup.setup_account(ctx, _fleet(settings), name=request["name"],
                                                    email=request["email"], ou=request["ou"],
                                                    tags=request.get("tags") or {}, account_id=ready["account_id"])
            except Exception as exc:
                log.update(request["email"], stage="set-up-failed", reason=f"set-up: {exc}")
                raise
            for s in steps:
                print(f"  {s.step:<40} {s.status:<8} {s.detail}")
            changed = [s.step for s in steps if s.status == "done"]
            log.update(request["email"], stage="set-up", steps=[s.to_dict() for s in steps])
            return {**ready, "ou": request["ou"], "changed": changed}

        set_up(request, ready.output, settings)

    vended = vend.expand(request=requests)

    @task(trigger_rule=TriggerRule.ALL_DONE, outlets=[VENDED_ACCOUNTS])
    def announce(settings: dict, requests: list[dict], outlet_events=None) -> list[dict]:
        """Update fleet_vended_accounts for the accounts created and set up by this run."""
        from airflow.sdk.exceptions import AirflowSkipException

        from fleet import accounts
        from fleet.vending_log import RequestLog

        outcomes = accounts.final_outcomes(RequestLog(_ctx(settings)), [accounts.Request.of(r) for r in requests])
        new = [{"name": o["name"], "id": o["account_id"], "email": o["email"], "ou": o["ou"]}
               for o in outcomes if o["outcome"] == "created" and o.get("stage") == "set-up"]
        if not new:
            raise AirflowSkipException("no new account is ready: nothing to announce")
        outlet_events[VENDED_ACCOUNTS].extra = {"accounts": new}
        print(f"fleet_vended_accounts updated: {', '.join(a['name'] for a in new)}")
        return new

    @task(trigger_rule=TriggerRule.ALL_DONE)
    def report(settings: dict, requests: list[dict], run_id: str | None = None) -> list[dict]:
        """Every request and its one outcome; fails the run when any request failed (one alert each)."""
        from fleet import accounts
        from fleet.vending_log import RequestLog
        from fleet_airflow.alerts import alert

        outcomes = accounts.final_outcomes(RequestLog(_ctx(settings)), [accounts.Request.of(r) for r in requests])
        for o in outcomes:
            print(f"{o['name']:<24} {o['email']:<36} {o['outcome']:<8} {o.get('account_id') or '-':<13} "
                  f"{o.get('reason') or ''}")
        counts = {k: sum(o["outcome"] == k for o in outcomes) for k in accounts.OUTCOMES}
        print(f"{len(outcomes)} request(s): {counts['created']} created, {counts['existed']} existed, "
              f"{counts['failed']} failed")
        failed = [o for o in outcomes if o["outcome"] == "failed"]
        for o in failed:
            alert(_ctx(settings), _fleet(settings), "vending_failed", dag_id="account_vending", run_id=run_id,
                  reason=f"account {o['name']} <{o['email']}>: {o.get('reason')}",
                  detail={"name": o["name"], "email": o["email"], "stage": o.get("stage")})
        if failed:
            fail("; ".join(f"{o['name']}: {o['reason']}" for o in failed))
        return outcomes

    done = announce(settings, requests)
    final = report(settings, requests)
    vended >> done >> final
