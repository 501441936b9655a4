"""A pre-prod environment stage (beta, gamma) as a reusable task group.

deploy -> wait_for_stacks -> integration_tests [-> bake]: start the stacks in the environment's
accounts, wait in the triggerer until they settle, check them, and (gamma) bake while the canaries'
health gates hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from airflow.sdk import TaskGroup, XComArg, task

from fleet_airflow.bake import BakeSensor
from fleet_airflow.hooks import context_from_settings
from fleet_airflow.sensors import StacksSettledSensor
from fleet_airflow.verdicts import fail


@dataclass(frozen=True)
class EnvironmentStage:
    """One environment of the fleet config (``environments.<name>``).

    :param name: the environment and the task group's id.
    :param bake: bake after the tests (gamma): health gates checked for ``bake_minutes``.
    """

    name: str
    bake: bool = False
    stacks_poll_interval: float = 15
    stacks_timeout_seconds: float = 3600
    bake_poll_interval: float = 30

    def build(self, *, settings: XComArg, bundle: XComArg, aws_conn_id: str | None) -> TaskGroup:
        """The task group; ``settings`` is the preflight's output (multiple outputs), ``bundle`` the snapshot's."""
        name = self.name
        with TaskGroup(name) as group:

            @task(task_id="deploy")
            def deploy(settings: dict, bundle: dict, params: dict | None = None) -> list[dict]:
                from airflow.sdk.exceptions import AirflowSkipException

                from fleet.bundle import Bundle
                from fleet.stages import environment as stage

                if params["dry_run"]:
                    # Skips cascade through the environments; prod.plan still runs (trigger rule).
                    raise AirflowSkipException("dry run: nothing is deployed")
                ctx = context_from_settings(aws_conn_id, settings)
                return stage.start_deployments(ctx, Bundle.from_dict(bundle).open(ctx), name)

            @task(task_id="integration_tests")
            def integration_tests(settings: dict, bundle: dict, deployments: list[dict],
                                  run_id: str | None = None) -> dict:
                from fleet.bundle import Bundle
                from fleet.stages import environment as stage

                result = stage.integration_tests(context_from_settings(aws_conn_id, settings), deployments,
                                                 health=self.bake, bundle=Bundle.from_dict(bundle), run_id=run_id)
                for c in result["checks"]:
                    print(f"{'PASS' if c['ok'] else 'FAIL'} {c['account_name']}/{c['region']} {c['name']}: "
                          f"{c['detail']}")
                problems = result["failed_deployments"] + result["failed_checks"]
                if problems:
                    fail(f"{name}: " + "; ".join(problems))
                return result

            deployments = deploy(settings, bundle)
            settled = StacksSettledSensor(
                task_id="wait_for_stacks", deployments=deployments, region_name=settings["region"],
                pipeline_role=settings["pipeline_role"], aws_conn_id=aws_conn_id,
                poll_interval=self.stacks_poll_interval, timeout=self.stacks_timeout_seconds)
            tested = integration_tests(settings, bundle, deployments)
            deployments >> settled >> tested
            if self.bake:
                baked = BakeSensor(
                    task_id="bake", deployments=deployments, bundle=bundle,
                    region_name=settings["region"], pipeline_role=settings["pipeline_role"],
                    bake_minutes=settings["bake_minutes"],
                    aws_conn_id=aws_conn_id, poll_interval=self.bake_poll_interval)
                tested >> baked
        return group
