"""FleetBaseSensor: the provider's parameter names, one cached AWS context per task, and every fleet
sensor built on it (so a new sensor gets all of this by deriving from it)."""

from __future__ import annotations

import inspect
from types import SimpleNamespace

import pytest
from airflow.sdk.exceptions import TaskDeferred

from fleet_airflow import hooks
from fleet_airflow.bake import BakeSensor
from fleet_airflow.hitl import FleetUIApprovalOperator
from fleet_airflow.sensors import AccountReadySensor, ExternalApprovalSensor, FleetBaseSensor, StacksSettledSensor
from fleet_airflow.triggers import StacksSettledTrigger

CONNECTION = {"aws_conn_id": "fleet_mgmt", "region_name": "eu-west-1", "pipeline_role": "FleetPipelineRole"}
DEPLOYMENTS = [{"account_id": "111122223333", "account_name": "beta-1", "region": "eu-central-1",
                "stack_name": "fleet-baseline"}]


class FakeTi:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


@pytest.fixture
def built_contexts(monkeypatch):
    """FleetAwsHook.fleet_context, counted; the contexts it returns know their region and partition."""
    built = []

    def fleet_context(hook, region_name, pipeline_role):
        built.append((hook.aws_conn_id, hook.region_name, region_name, pipeline_role))
        return SimpleNamespace(region=region_name, partition="aws", endpoint_url="http://127.0.0.1:5000")

    monkeypatch.setattr(hooks.FleetAwsHook, "fleet_context", fleet_context)
    return built


def stacks_sensor(**kw) -> StacksSettledSensor:
    return StacksSettledSensor(task_id="wait_for_stacks", deployments=DEPLOYMENTS, **CONNECTION, **kw)


def test_every_fleet_sensor_derives_from_the_public_base():
    for sensor in (StacksSettledSensor, ExternalApprovalSensor, BakeSensor, AccountReadySensor):
        assert issubclass(sensor, FleetBaseSensor), sensor


def test_the_base_takes_the_providers_parameter_names():
    params = inspect.signature(FleetBaseSensor.__init__).parameters
    assert {"aws_conn_id", "region_name", "pipeline_role", "poll_interval", "deferrable"} <= set(params)
    assert params["aws_conn_id"].default == "aws_default" and params["deferrable"].default is True
    for sensor in (StacksSettledSensor, ExternalApprovalSensor, BakeSensor, AccountReadySensor,
                   FleetUIApprovalOperator):
        assert {"aws_conn_id", "region_name", "pipeline_role"} <= set(sensor.template_fields), sensor
    with pytest.raises(TypeError):  # the old name is refused, not silently ignored
        StacksSettledSensor(task_id="old", deployments=[], region="eu-west-1", pipeline_role="R")


def test_poll_interval_is_also_the_poke_interval():
    sensor = stacks_sensor(poll_interval=7)
    assert sensor.poll_interval == 7 and sensor.poke_interval == 7


def test_the_hook_and_context_are_built_once_per_task(built_contexts):
    sensor = stacks_sensor()
    assert sensor.fleet_context is sensor.fleet_context
    assert sensor.hook is sensor.hook
    assert built_contexts == [("fleet_mgmt", "eu-west-1", "eu-west-1", "FleetPipelineRole")]


def test_a_waiting_sensor_defers_to_its_typed_trigger_and_stores_its_link(built_contexts, monkeypatch):
    from fleet.stages import environment

    looks = []
    monkeypatch.setattr(environment, "settled", lambda ctx, deployments: looks.append(ctx) or False)
    ti = FakeTi()
    sensor = stacks_sensor(poll_interval=15, timeout=3600)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({"ti": ti, "task": sensor, "run_id": "manual__1"})
    trigger = deferred.value.trigger
    assert isinstance(trigger, StacksSettledTrigger) and deferred.value.method_name == "execute_complete"
    assert trigger.serialize()[1] == {"deployments": DEPLOYMENTS, **CONNECTION, "poll_interval": 15.0,
                                      "timeout_seconds": 3600.0}
    assert len(looks) == 1 and len(built_contexts) == 1  # its own first look used the cached context
    assert ti.pushed["fleet_cloudformation_stack"] == {"region_name": "eu-central-1", "aws_domain": "aws.amazon.com",
                                                       "stack_name": "fleet-baseline"}


def test_a_link_that_cannot_be_stored_does_not_fail_the_task(built_contexts, monkeypatch):
    from fleet.stages import environment

    monkeypatch.setattr(environment, "settled", lambda ctx, deployments: True)
    sensor = stacks_sensor()
    assert sensor.execute({"run_id": "manual__1"}) is None  # no ti in the context: no link, still settled
