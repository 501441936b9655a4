"""Every DAG file: imports cleanly and quickly, does no I/O at parse time, and follows the house rules."""

from __future__ import annotations

import builtins
import socket
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))
STAGES = ["source", "build", "beta", "gamma", "prod"]


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(str(REPO / "dags"))


def test_every_dag_file_imports_without_error(dagbag):
    assert DAG_FILES, "no DAG files found"
    assert dagbag.import_errors == {}
    assert "account_fleet_pipeline" in dagbag.dags


def test_every_dag_file_parses_in_under_half_a_second(dagbag):
    # DagBag measures each file's parse itself (the scheduler's own figure), Airflow already imported.
    for stat in dagbag.dagbag_stats:
        assert stat.duration.total_seconds() < 0.5, f"{stat.file} took {stat.duration}"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_no_aws_call_network_or_file_read_at_parse_time(path, monkeypatch):
    import botocore.client

    from airflow.dag_processing.dagbag import DagBag

    touched: list[str] = []
    real_open = builtins.open

    def guarded_open(file, *args, **kwargs):
        if Path(str(file)).resolve() != path.resolve():
            touched.append(f"open({file})")
        return real_open(file, *args, **kwargs)

    def no_api(self, operation, params):
        touched.append(f"AWS {operation}")
        raise AssertionError("AWS call at parse time")

    def no_connect(self, address):
        touched.append(f"connect({address})")
        raise AssertionError("network at parse time")

    DagBag(str(REPO / "dags"))  # warm imports, so only the DAG file's own work is observed below
    monkeypatch.setattr(builtins, "open", guarded_open)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", no_api)
    monkeypatch.setattr(socket.socket, "connect", no_connect)
    bag = DagBag(str(path), safe_mode=False)
    assert bag.import_errors == {}
    assert touched == []


def test_every_task_has_an_owner_and_retries(dagbag):
    for dag in dagbag.dags.values():
        for task in dag.tasks:
            assert task.owner and task.owner != "airflow", f"{dag.dag_id}.{task.task_id} has no owner"
            assert task.retries >= 1, f"{dag.dag_id}.{task.task_id} has no retries"


def test_fleet_pipeline_stages_run_in_order(dagbag):
    dag = dagbag.dags["account_fleet_pipeline"]
    groups = {s: [t for t in dag.tasks if t.task_id.startswith(f"{s}.")] for s in STAGES}
    assert all(groups.values()), {s: len(ts) for s, ts in groups.items()}
    for earlier, later in zip(STAGES, STAGES[1:]):
        downstream = set()
        for task in groups[earlier]:
            downstream |= {t.task_id for t in task.get_flat_relatives(upstream=False)}
        for task in groups[later]:
            assert task.task_id in downstream, f"{task.task_id} does not wait for stage {earlier}"


def test_fleet_pipeline_params_and_schedule(dagbag):
    dag = dagbag.dags["account_fleet_pipeline"]
    assert set(dag.params) >= {"fleet_repo", "source_ref", "targets", "dry_run"}
    # Weekday mornings, and whenever account_vending announces new accounts or the fleet repo is pushed.
    assert type(dag.timetable).__name__ == "AssetOrTimeSchedule"
    assert dag.timetable.timetable.expression == "0 6 * * 1-5"
    assert type(dag.timetable.asset_condition).__name__ == "AssetAny"  # either asset starts a run
    assert [a.name for a in dag.timetable.asset_condition.objects] == ["fleet_vended_accounts", "fleet_repo_pushes"]
    assert dag.max_active_runs == 1


def test_the_push_queue_is_watched_when_configured_and_parsing_stays_free_of_io(monkeypatch):
    """The queue's settings come from the environment; parsing asks AWS nothing and reads no file."""
    queue = "https://sqs.eu-west-1.amazonaws.com/123456789012/fleet-pushes"
    monkeypatch.setenv("FLEET_PUSH_QUEUE_URL", queue)
    monkeypatch.setenv("FLEET_PUSH_REPOSITORY", "acme/fleet")
    monkeypatch.setenv("FLEET_PUSH_BRANCH", "release")
    monkeypatch.setenv("FLEET_REPO_URL", "https://git.example.com/acme/fleet.git")
    test_no_aws_call_network_or_file_read_at_parse_time(REPO / "dags" / "account_fleet_pipeline.py", monkeypatch)
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(str(REPO / "dags" / "account_fleet_pipeline.py")).dags["account_fleet_pipeline"]
    pushes = dag.timetable.asset_condition.objects[1]
    (watcher,) = pushes.watchers
    classpath, kwargs = watcher.trigger.serialize()
    assert classpath.endswith("SqsSensorTrigger") and kwargs["sqs_queue"] == queue
    assert kwargs["message_filtering_match_values"] == ["refs/heads/release acme/fleet"]
    # A push-started run has no conf: it snapshots the pushed commit of the Param's default repository.
    assert dag.params["fleet_repo"] == "https://git.example.com/acme/fleet.git"


def test_a_bad_push_setting_is_an_import_error_naming_it(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("FLEET_PUSH_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/fleet-pushes")
    monkeypatch.setenv("FLEET_PUSH_BRANCH", "../main")
    errors = DagBag(str(REPO / "dags" / "account_fleet_pipeline.py")).import_errors
    assert any("FLEET_PUSH_REPOSITORY / FLEET_PUSH_BRANCH: branch: expected a git branch name" in e
               for e in errors.values()), errors


def test_account_vending_shape(dagbag):
    dag = dagbag.dags["account_vending"]
    assert dag.schedule is None and {"accounts", "fleet_repo", "readiness_timeout_minutes"} <= set(dag.params)
    ready = dag.get_task("vend.wait_ready")
    assert type(ready).__name__ == "AccountReadySensor"
    for task_id in ("vend.request_account", "vend.wait_ready", "vend.set_up"):
        assert dag.get_task(task_id).pool == "fleet_account_ops", task_id
    assert {"vend.set_up"} <= {t.task_id for t in ready.get_flat_relatives(upstream=False)}
    announce = dag.get_task("announce")
    assert [o.name for o in announce.outlets] == ["fleet_vended_accounts"]
    assert "vend.set_up" in {t.task_id for t in announce.get_flat_relatives(upstream=True)}
    assert "announce" in {t.task_id for t in dag.get_task("report").get_flat_relatives(upstream=True)}


def test_approval_gates_the_prod_rollout_and_catalog(dagbag):
    dag = dagbag.dags["account_fleet_pipeline"]
    approval = dag.get_task("prod.approval")
    after = {t.task_id for t in approval.get_flat_relatives(upstream=False)}
    assert {"prod.rollout", "prod.service_catalog"} <= after
    assert type(approval).__name__ == "ExternalApprovalSensor" and approval.deferrable
    assert dag.get_task("prod.rollout").pool == "fleet_prod_rollout"


def test_every_pool_a_task_uses_is_in_the_pools_table(dagbag):
    from fleet_airflow.pools import POOLS

    known = {p.name for p in POOLS} | {"default_pool"}
    used = {t.pool for dag in dagbag.dags.values() for t in dag.tasks}
    assert used <= known, used - known
    assert {"fleet_prod_rollout", "fleet_account_ops"} <= used


def test_the_ui_shows_the_extra_links_where_people_jump(dagbag):
    """What the scheduler stores for the UI: each task's link names (their URLs are stored per run)."""
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["account_fleet_pipeline"]))
    expected = {"run_report": ["Run report"], "prod.plan": ["Prod plan"], "prod.approval": ["Approval request"],
                "prod.ui_approval": ["Approval request"],
                "beta.wait_for_stacks": ["CloudFormation stack"], "gamma.wait_for_stacks": ["CloudFormation stack"]}
    for task_id, names in expected.items():
        assert dag.get_task(task_id).extra_links == names, task_id


def test_every_sensor_in_the_dags_is_a_fleet_base_sensor(dagbag):
    from fleet_airflow.sensors import FleetBaseSensor

    sensors = [t for d in dagbag.dags.values() for t in d.tasks if "Sensor" in type(t).__name__]
    assert {type(t).__name__ for t in sensors} == {"StacksSettledSensor", "BakeSensor", "ExternalApprovalSensor",
                                                  "AccountReadySensor"}
    for sensor in sensors:
        assert isinstance(sensor, FleetBaseSensor), sensor.task_id


def test_vending_polls_at_the_poll_seconds_param_as_poll_interval(dagbag):
    """The form keeps its poll_seconds name; the preflight hands it on as poll_interval."""
    dag = dagbag.dags["account_vending"]
    assert "poll_seconds" in dag.params
    wait = dag.get_task("vend.wait_ready").poll_interval
    assert (wait.operator.task_id, wait.key) == ("preflight", "poll_interval")
