"""Each fleet trigger: what the triggerer stores rebuilds the same trigger, and one wait against a
fake probe (no AWS, no triggerer) ends with the event its sensor expects."""

from __future__ import annotations

import asyncio
import importlib

import pytest

from fleet_airflow import probes
from fleet_airflow.triggers import (AccountReadinessTrigger, ApprovalDecisionTrigger, BakeHealthTrigger,
                                    StacksSettledTrigger)

CONNECTION = {"aws_conn_id": "aws_default", "region_name": "eu-west-1", "pipeline_role": "FleetPipelineRole",
              "poll_interval": 0.01}
DEPLOYMENTS = [{"account_id": "111122223333", "account_name": "beta-1", "region": "eu-west-1",
                "stack_name": "fleet-baseline"}]

# trigger class, its own arguments, the probe it calls, what the probe answers look after look, the event
CASES = {
    "stacks settled": (StacksSettledTrigger, {"deployments": DEPLOYMENTS}, "stacks_settled",
                       [False, False, True], {"status": "ready", "value": True}),
    "approval decision": (ApprovalDecisionTrigger,
                          {"store": "dynamodb", "table": "fleet-approvals", "bucket": "artifacts",
                           "run_id": "manual__1", "seen": 1}, "approval_decisions",
                          [0, 2], {"status": "ready", "value": 2}),
    "bake health": (BakeHealthTrigger, {"canaries": [{"account_id": "1", "account_name": "c", "region": "r"}],
                                        "started_at": "2026-11-28T10:00:00+00:00", "bake_minutes": 30.0},
                    "bake_health", [None, {"state": "done", "baked_minutes": 30.0}],
                    {"status": "ready", "value": {"state": "done", "baked_minutes": 30.0}}),
}


def import_string(classpath: str):
    module, _, name = classpath.rpartition(".")
    return getattr(importlib.import_module(module), name)


def first_event(trigger):
    async def run():
        async for event in trigger.run():
            return event.payload
    return asyncio.run(run())


@pytest.fixture
def fake_context(monkeypatch):
    """The trigger's AWS context, counted: built once per wait, whatever the number of looks."""
    built = []

    def fleet_context(trigger):
        built.append((trigger.aws_conn_id, trigger.region_name, trigger.pipeline_role))
        return f"ctx-{len(built)}"

    for cls in (StacksSettledTrigger, ApprovalDecisionTrigger, BakeHealthTrigger, AccountReadinessTrigger):
        monkeypatch.setattr(cls, "fleet_context", fleet_context)
    return built


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_serialize_round_trip(case):
    cls, own, _, _, _ = CASES[case]
    trigger = cls(**own, **CONNECTION, timeout_seconds=60)
    classpath, kwargs = trigger.serialize()
    assert import_string(classpath) is cls
    assert kwargs == {**own, **CONNECTION, "timeout_seconds": 60.0}  # typed arguments, not a probe name
    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_one_wait_against_a_fake_probe(case, fake_context, monkeypatch):
    cls, own, probe, answers, expected = CASES[case]
    calls, script = [], iter(answers)

    def fake_probe(ctx, *args):
        calls.append((ctx, args))
        return next(script)

    monkeypatch.setattr(probes, probe, fake_probe)
    assert first_event(cls(**own, **CONNECTION)) == expected
    assert len(calls) == len(answers)
    assert {ctx for ctx, _ in calls} == {"ctx-1"}  # one context for the whole wait
    assert fake_context == [("aws_default", "eu-west-1", "FleetPipelineRole")]
    assert list(calls[0][1]) == [v for k, v in own.items()]  # the trigger's own arguments, in order


def test_a_probe_error_ends_the_wait_with_its_message(fake_context, monkeypatch):
    def broken(ctx, deployments):
        raise RuntimeError("throttled")

    monkeypatch.setattr(probes, "stacks_settled", broken)
    event = first_event(StacksSettledTrigger(deployments=DEPLOYMENTS, **CONNECTION))
    assert event == {"status": "error", "message": "RuntimeError: throttled"}


def test_the_wait_times_out(fake_context, monkeypatch):
    monkeypatch.setattr(probes, "approval_decisions", lambda ctx, *a: 0)
    trigger = ApprovalDecisionTrigger(store="s3", table="t", bucket="b", run_id="r", seen=0, **CONNECTION,
                                      timeout_seconds=0.05)
    assert first_event(trigger) == {"status": "timeout"}


def test_account_readiness_round_trip_keeps_the_accounts_own_timeout():
    trigger = AccountReadinessTrigger(name="new", request_id="car-1", account_id=None, backend="control_tower",
                                      regions=["eu-west-1"], timeout_seconds=600, seen=["create"], elapsed=3.0,
                                      **CONNECTION)
    classpath, kwargs = trigger.serialize()
    assert kwargs["timeout_seconds"] == 600.0 and kwargs["region_name"] == "eu-west-1"
    assert kwargs["poll_interval"] == 0.01 and kwargs["seen"] == ["create"] and kwargs["elapsed"] == 3.0
    assert import_string(classpath)(**kwargs).serialize() == (classpath, kwargs)


def test_account_readiness_looks_again_through_transient_errors(fake_context, monkeypatch):
    from fleet import accounts
    from fleet.accounts import Readiness

    answers = iter([RuntimeError("network")] * 4 + [Readiness("ready", "111122223333", "ok")])

    def check_ready(*args):
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(accounts, "check_ready", check_ready)
    trigger = AccountReadinessTrigger(name="new", request_id="car-1", account_id=None, backend="organizations",
                                      regions=["eu-west-1"], timeout_seconds=60, **CONNECTION)
    event = first_event(trigger)
    assert event["status"] == "ready" and event["account_id"] == "111122223333"

    monkeypatch.setattr(accounts, "check_ready", lambda *a: (_ for _ in ()).throw(RuntimeError("network")))
    event = first_event(AccountReadinessTrigger(name="new", request_id="car-1", account_id=None,
                                                backend="organizations", regions=["eu-west-1"], timeout_seconds=60,
                                                **CONNECTION))
    assert event["status"] == "error" and "kept failing: RuntimeError: network" in event["detail"]
