"""The CeleryExecutor deployment (`make up-celery`'s code, scripts/celery_stack.py) on this machine's
PostgreSQL and Redis: scheduler, dag-processor, triggerer, api-server and two Celery workers that
share no folder, the fleet repo given as a git URL. Triggered through the REST API, approved from a
second process. PostgreSQL or Redis not reachable is a failure with the reason, never a skip.

One stack, one test: its start-up is the slow part, and under `--dist worksteal` two tests of a
module may land on two xdist workers, each starting a stack of its own. The test has two phases,
each a function below: the pipeline across two workers, then the lost worker.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from tests.support.celery_deploy import Api, CeleryStack, approve_from_second_process, celery_stack
from tests.support.gitrepo import fleet_remote

pytestmark = pytest.mark.e2e

DAG = "account_fleet_pipeline"
# Lowered for the test so a lost worker's task is retried within a minute; production keeps
# Airflow's 300 s (README: "Running on Celery").
HEARTBEAT_TIMEOUT = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = CeleryStack(tmp_path_factory.mktemp("celery"), pg_db=f"fleet_celery_test_{uuid.uuid4().hex[:8]}",
                    redis_db=None, heartbeat_timeout=HEARTBEAT_TIMEOUT, visibility_timeout=3600,
                    # The DAG is unpaused below: without this the scheduler also makes the latest cron
                    # run (weekday mornings), which holds the one-rollout-at-a-time pool and waits
                    # for its own approval in front of the runs this test triggers.
                    extra_env={"AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False"})
    # Before anything else: PostgreSQL or Redis not reachable fails here, with the reason.
    celery_stack.check_services(s.pg, s.redis_url)
    try:
        with s:
            yield s
    finally:
        s.drop_database()


@pytest.fixture(scope="module")
def api(stack):
    api = Api(stack.api_url)
    api.wait_dag(DAG)
    return api


def _wait(api, run_id: str, timeout: float = 900) -> tuple[str, dict[str, str | None]]:
    """The run's final state, and the tasks seen deferred on the way (with their trigger's class
    once a triggerer job had taken the trigger)."""
    deferred, deadline = {}, time.time() + timeout
    while time.time() < deadline:
        state = api.run_state(DAG, run_id)
        for ti in api.task_instances(DAG, run_id):
            if ti["state"] == "deferred":
                trigger = ti.get("trigger") or {}
                deferred[ti["task_id"]] = deferred.get(ti["task_id"]) or (
                    trigger.get("classpath") if trigger.get("triggerer_id") is not None else None)
        if state in ("success", "failed"):
            return state, deferred
        time.sleep(2)
    raise AssertionError(f"{run_id} still {state} after {timeout:.0f} s")


def _explain(stack, api, run_id: str) -> str:
    tis = api.task_instances(DAG, run_id)
    lines = [f"{ti['task_id']}: {ti['state']} on {ti.get('hostname')} (try {ti.get('try_number')})" for ti in tis]
    return "\n".join(lines) + "\n--- worker1:\n" + stack.log_tail("worker1", 3000) + \
        "\n--- scheduler:\n" + stack.log_tail("scheduler", 3000)


def test_celery_deployment(stack, api, tmp_path):
    pipeline_across_two_workers_from_a_git_url(stack, api, tmp_path / "first")
    a_worker_lost_mid_wave_is_retried_on_the_other_and_deploys_each_stack_once(stack, api, tmp_path / "second")


def pipeline_across_two_workers_from_a_git_url(stack, api, tmp_path):
    _, url = fleet_remote(tmp_path / "fleet")
    run_id = api.trigger(DAG, {"fleet_repo": url, "source_ref": "main", "approval_ui": False})
    approve_from_second_process(stack, run_id, still_running=lambda: api.run_state(DAG, run_id) in ("queued", "running"))
    state, deferred = _wait(api, run_id)
    assert state == "success", _explain(stack, api, run_id)

    tis = api.task_instances(DAG, run_id)
    hosts = {ti["hostname"] for ti in tis if ti["state"] == "success" and ti.get("hostname")}
    assert {h.rsplit("-", 1)[-1] for h in hosts} >= {"worker1", "worker2"}, hosts
    # Sensors waited in the triggerer (its job ran their triggers), and resumed on a worker.
    assert any(deferred.values()), f"no deferred task seen with its trigger taken by the triggerer: {deferred}"
    assert all(ti["state"] == "success" for ti in tis if ti["task_id"] in deferred)
    # The workers share no folder: each made its own bundle cache, none read the other's.
    assert not (stack.base / "worker1").samefile(stack.base / "worker2")


def _prod_stacks(stack) -> dict[str, str]:
    """Prod account name -> id, in the stack's local AWS."""
    import boto3

    org = boto3.client("organizations", endpoint_url=stack.aws_endpoint, region_name="us-east-1")
    return {a["Name"]: a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]
            if a["Name"].startswith("app-prod-")}


def _cfn(stack, account_id: str):
    import boto3

    sts = boto3.client("sts", endpoint_url=stack.aws_endpoint, region_name="us-east-1")
    c = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/OrganizationAccountAccessRole",
                        RoleSessionName="celery-test")["Credentials"]
    return boto3.client("cloudformation", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                        aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                        aws_session_token=c["SessionToken"])


def _done_since(cfn, since) -> list[str]:
    """The baseline stack's completed operations (CREATE/UPDATE) since ``since``."""
    try:
        events = cfn.describe_stack_events(StackName="fleet-security-baseline")["StackEvents"]
    except Exception:  # noqa: BLE001 - no stack yet
        return []
    return [e["ResourceStatus"] for e in events if e["ResourceType"] == "AWS::CloudFormation::Stack"
            and e["ResourceStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE") and e["Timestamp"] >= since]


def a_worker_lost_mid_wave_is_retried_on_the_other_and_deploys_each_stack_once(stack, api, tmp_path):
    from datetime import datetime, timezone

    import boto3
    from localaws.profile import set_profile

    from tests.support.celery_deploy import kill_worker_and_its_tasks, redeliver_unacked
    from tests.support.gitrepo import commit

    remote, url = fleet_remote(tmp_path / "fleet")
    cfg = remote / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace('RetentionDays: "365"', 'RetentionDays: "400"'))  # a new digest
    commit(remote, "retention 400")
    prod = _prod_stacks(stack)
    cfns = {name: _cfn(stack, account) for name, account in prod.items()}
    # Stacks take 4 s per operation, so the rollout's last wave is still going when the worker dies.
    set_profile(stack.aws_endpoint, {"cloudformation": {"in_progress_seconds": 4}})
    try:
        started = datetime.now(timezone.utc)
        run_id = api.trigger(DAG, {"fleet_repo": url, "source_ref": "main", "approval_ui": False})
        approve_from_second_process(stack, run_id,
                                    still_running=lambda: api.run_state(DAG, run_id) in ("queued", "running"))
        deadline, victim = time.time() + 600, None
        while time.time() < deadline and victim is None:
            ti = next(t for t in api.task_instances(DAG, run_id) if t["task_id"] == "prod.rollout")
            assert api.run_state(DAG, run_id) == "running", _explain(stack, api, run_id)
            if ti["state"] == "running" and ti.get("hostname"):
                done = sum(bool(_done_since(c, started)) for c in cfns.values())
                if 2 <= done < len(cfns):  # waves 1 and 2 done, the last wave under way
                    victim = next(c for c in stack.components if c.env.get("FLEET_HOSTNAME") == ti["hostname"])
                    deployed_by_lost_try = {n for n, c in cfns.items() if _done_since(c, started)}
                    kill_worker_and_its_tasks(victim)
                    break
            time.sleep(0.5)
        assert victim is not None, "the rollout never reached its last wave\n" + _explain(stack, api, run_id)

        state, _ = _wait(api, run_id)
        assert state == "success", _explain(stack, api, run_id)
    finally:
        set_profile(stack.aws_endpoint, "default")

    tries = api.tries(DAG, run_id, "prod.rollout")
    assert len(tries) >= 2 and tries[-1]["state"] == "success", tries
    assert tries[-1]["hostname"] != victim.env["FLEET_HOSTNAME"]  # the retry ran on the other worker
    # Every prod stack was updated exactly once by this run (its events), by whichever try.
    assert {n: len(_done_since(c, started)) for n, c in cfns.items()} == {n: 1 for n in cfns}

    # The run's rollout result and the ledger say which try deployed which account.
    result = api.get(f"/api/v2/dags/{DAG}/dagRuns/{urllib_quote(run_id)}/taskInstances/prod.rollout/"
                     f"xcomEntries/return_value")["value"]
    result = json.loads(result) if isinstance(result, str) else result
    # Per account, its security baseline: what the second bundle changes (its network baseline is unchanged).
    by = {r["account_name"]: (r["status"], r["try_number"]) for w in result["waves"] for r in w["results"]
          if r["stack_name"] == "fleet-security-baseline"}
    assert {s for s, _ in by.values()} <= {"created", "updated"}, by  # none "skipped" or "unchanged"
    assert {by[n][1] for n in deployed_by_lost_try} == {tries[0]["try_number"]}, by
    ddb = boto3.client("dynamodb", endpoint_url=stack.aws_endpoint, region_name="us-east-1")
    ledger = {i["account_name"]["S"]: (i["run_id"]["S"], int(i["try_number"]["N"]))
              for page in ddb.get_paginator("scan").paginate(TableName="fleet-ledger") for i in page["Items"]
              if i["account_name"]["S"] in prod and i["stack_name"]["S"] == "fleet-security-baseline"}
    assert ledger == {n: (run_id, by[n][1]) for n in prod}, ledger

    # The killed try's message is still unacked in Redis; handed out again (as after the visibility
    # timeout), it does not run the task again.
    redelivered = redeliver_unacked(stack)
    assert redelivered >= 1, "the killed try left no unacked message: was the worker killed mid-task?"
    time.sleep(15)
    assert len(api.tries(DAG, run_id, "prod.rollout")) == len(tries)
    assert {n: len(_done_since(c, started)) for n, c in cfns.items()} == {n: 1 for n in cfns}
    assert stack.redis().hlen("unacked") == 0, f"{redelivered} redelivered, still unacked after 15 s"


def urllib_quote(value: str) -> str:
    import urllib.parse

    return urllib.parse.quote(value, safe="")
