"""EnvironmentStage: the same task group for beta and gamma, gamma's with a bake."""

from __future__ import annotations

from airflow.sdk import DAG, task

from fleet_airflow.environment import EnvironmentStage


def build(stage: EnvironmentStage):
    with DAG("environment_test", schedule=None) as dag:
        @task(multiple_outputs=True)
        def preflight() -> dict:
            return {}

        @task(multiple_outputs=True)
        def snapshot() -> dict:
            return {}

        stage.build(settings=preflight(), bundle=snapshot(), aws_conn_id="fleet_mgmt")
    return dag


def test_a_stage_deploys_waits_and_tests():
    dag = build(EnvironmentStage("beta"))
    tasks = {t.task_id: t for t in dag.tasks if t.task_id.startswith("beta.")}
    assert {k: type(t).__name__ for k, t in tasks.items()} == {
        "beta.deploy": "_PythonDecoratedOperator", "beta.wait_for_stacks": "StacksSettledSensor",
        "beta.integration_tests": "_PythonDecoratedOperator"}
    assert {"beta.deploy", "beta.wait_for_stacks"} <= tasks["beta.integration_tests"].upstream_task_ids
    wait = tasks["beta.wait_for_stacks"]
    assert wait.aws_conn_id == "fleet_mgmt" and wait.poll_interval == 15 and wait.timeout == 3600
    # The region and role are the preflight's single outputs, resolved at run time.
    assert (wait.region_name.operator.task_id, wait.region_name.key) == ("preflight", "region")
    assert (wait.pipeline_role.operator.task_id, wait.pipeline_role.key) == ("preflight", "pipeline_role")


def test_a_baking_stage_bakes_after_its_tests():
    dag = build(EnvironmentStage("gamma", bake=True, bake_poll_interval=45))
    bake = dag.get_task("gamma.bake")
    assert type(bake).__name__ == "BakeSensor" and bake.poll_interval == 45
    assert "gamma.integration_tests" in bake.upstream_task_ids
    assert bake.bundle.operator.task_id == "snapshot"  # the whole Bundle, not its pieces
    assert "beta.bake" not in {t.task_id for t in build(EnvironmentStage("beta")).tasks}
