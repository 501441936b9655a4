"""The CeleryExecutor deployment (`make up-celery`'s code, scripts/celery_stack.py) on this machine's
PostgreSQL and Redis: scheduler, dag-processor, triggerer, api-server and two Celery workers that
share no folder, the fleet repo given as a git URL. Triggered through the REST API, approved from a
second process. PostgreSQL or Redis not reachable is a failure with the reason, never a skip.

One stack for the module (its start-up is the slow part), on an xdist group of its own.
"""

from __future__ import annotations

import time
import uuid

import pytest

from tests.support.celery_deploy import Api, CeleryStack, approve_from_second_process, celery_stack
from tests.support.gitrepo import fleet_remote

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("celery")]

DAG = "account_fleet_pipeline"
# Lowered for the test so a lost worker's task is retried within a minute; production keeps
# Airflow's 300 s (README: "Running on Celery").
HEARTBEAT_TIMEOUT = 30


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    celery_stack.check_services(CeleryStack(tmp_path_factory.getbasetemp()).pg,
                                CeleryStack(tmp_path_factory.getbasetemp()).redis_url)
    s = CeleryStack(tmp_path_factory.mktemp("celery"), pg_db=f"fleet_celery_test_{uuid.uuid4().hex[:8]}",
                    redis_db=None, heartbeat_timeout=HEARTBEAT_TIMEOUT, visibility_timeout=3600)
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


def _wait(api, run_id: str, timeout: float = 900) -> tuple[str, set[str]]:
    """The run's final state, and the tasks seen deferred on the way."""
    deferred, deadline = set(), time.time() + timeout
    while time.time() < deadline:
        state = api.run_state(DAG, run_id)
        deferred |= {ti["task_id"] for ti in api.task_instances(DAG, run_id) if ti["state"] == "deferred"}
        if state in ("success", "failed"):
            return state, deferred
        time.sleep(2)
    raise AssertionError(f"{run_id} still {state} after {timeout:.0f} s")


def _explain(stack, api, run_id: str) -> str:
    tis = api.task_instances(DAG, run_id)
    lines = [f"{ti['task_id']}: {ti['state']} on {ti.get('hostname')} (try {ti.get('try_number')})" for ti in tis]
    return "\n".join(lines) + "\n--- worker1:\n" + stack.log_tail("worker1", 3000) + \
        "\n--- scheduler:\n" + stack.log_tail("scheduler", 3000)


def test_the_pipeline_runs_across_two_workers_from_a_git_url(stack, api, tmp_path):
    _, url = fleet_remote(tmp_path / "fleet")
    run_id = api.trigger(DAG, {"fleet_repo": url, "source_ref": "main"})
    approve_from_second_process(stack, run_id, still_running=lambda: api.run_state(DAG, run_id) in ("queued", "running"))
    state, deferred = _wait(api, run_id)
    assert state == "success", _explain(stack, api, run_id)

    tis = api.task_instances(DAG, run_id)
    hosts = {ti["hostname"] for ti in tis if ti["state"] == "success" and ti.get("hostname")}
    assert {h.rsplit("-", 1)[-1] for h in hosts} >= {"worker1", "worker2"}, hosts
    # Sensors waited in the triggerer, and resumed on a worker.
    assert deferred, "no task was seen deferred"
    assert "trigger" in stack.log_tail("triggerer", 200_000).lower()
    # The workers share no folder: each made its own bundle cache, none read the other's.
    assert not (stack.base / "worker1").samefile(stack.base / "worker2")
