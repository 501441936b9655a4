"""The readiness logic with injected clocks and fake AWS answers: no real sleeps, no server."""

from __future__ import annotations

import asyncio

import pytest

from fleet import accounts
from fleet.accounts import Readiness, ReadinessWatch

REGIONS = ("us-east-1", "eu-west-1")


def test_wait_ready_walks_the_stages_without_real_sleeps():
    stages = iter([Readiness("create"), Readiness("create"), Readiness("role", "111122223333"),
                   Readiness("regions", "111122223333"), Readiness("ready", "111122223333")])
    slept = []
    state, seen = accounts.wait_ready(None, "new-one", "car-1", None, REGIONS, timeout=600, poll=15,
                                      sleep=slept.append, clock=lambda: 0.0, check=lambda *a: next(stages))
    assert state.stage == "ready" and state.account_id == "111122223333"
    assert seen == ["create", "role", "regions", "ready"] and slept == [15, 15, 15, 15]


def test_wait_ready_times_out_naming_the_account_and_the_stage():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    state, seen = accounts.wait_ready(None, "app-prod-09", "car-1", None, REGIONS, timeout=60, poll=15,
                                      sleep=sleep, clock=lambda: now[0],
                                      check=lambda *a: Readiness("role", "111122223333", "role not assumable yet"))
    assert state.stage == "failed" and now[0] == 60 and seen == ["role"]
    assert state.detail == ("account app-prod-09 not ready after 60s, still waiting for role: "
                            "role not assumable yet")


def test_a_watch_returns_failed_and_ready_at_once_and_counts_polls():
    watch = ReadinessWatch("x", timeout=10, started=100.0)
    assert watch.observe(Readiness("create"), 100.0) is None
    assert watch.observe(Readiness("create"), 109.9) is None
    done = watch.observe(Readiness("failed", None, "account x: creation failed: EMAIL_ALREADY_EXISTS"), 500.0)
    assert done.stage == "failed" and "EMAIL_ALREADY_EXISTS" in done.detail  # a failure is not reported as a timeout
    assert watch.polls == 3 and watch.seen == ["create", "failed"]


class FakeAws:
    """Answers check_ready's calls from a script: the creation state, then which clients may be made."""

    def __init__(self, creation, role_ok=True, bad_regions=()):
        self.creation, self.role_ok, self.bad_regions = creation, role_ok, set(bad_regions)

    def client(self, service, account_id=None, region=None):
        outer = self

        class Org:
            def describe_create_account_status(self, CreateAccountRequestId):
                return {"CreateAccountStatus": {"Id": CreateAccountRequestId, **outer.creation}}

        class Sts:
            def get_caller_identity(self):
                if not outer.role_ok:
                    raise RuntimeError("AccessDenied: not authorized to perform sts:AssumeRole")
                if region in outer.bad_regions:
                    raise RuntimeError("InvalidClientTokenId: the security token included in the request is invalid")
                return {"Account": account_id}

        class Sc:
            def describe_record(self, Id):
                return {"RecordDetail": {"RecordId": Id, **outer.creation}, "RecordOutputs": outer.creation.get(
                    "outputs", [])}

        return {"organizations": Org, "sts": Sts, "servicecatalog": Sc}[service]()


@pytest.mark.parametrize("aws, stage, detail", [
    (FakeAws({"State": "IN_PROGRESS"}), "create", "account new: creation IN_PROGRESS"),
    (FakeAws({"State": "FAILED", "FailureReason": "ACCOUNT_LIMIT_EXCEEDED"}), "failed",
     "account new: creation failed: ACCOUNT_LIMIT_EXCEEDED"),
    (FakeAws({"State": "SUCCEEDED", "AccountId": "111122223333"}, role_ok=False), "role",
     "account new (111122223333): pipeline role not assumable yet"),
    (FakeAws({"State": "SUCCEEDED", "AccountId": "111122223333"}, bad_regions={"eu-west-1"}), "regions",
     "account new (111122223333): region eu-west-1 not answering yet"),
    (FakeAws({"State": "SUCCEEDED", "AccountId": "111122223333"}), "ready",
     "account new (111122223333): ready in us-east-1, eu-west-1"),
])
def test_check_ready_stages_from_organizations(aws, stage, detail):
    state = accounts.check_ready(aws, "new", "car-1", None, REGIONS)
    assert state.stage == stage and state.detail.startswith(detail)


@pytest.mark.parametrize("record, stage, detail", [
    ({"Status": "IN_PROGRESS"}, "create", "account new: creation IN_PROGRESS"),
    ({"Status": "FAILED", "RecordErrors": [{"Code": "EMAIL_ALREADY_EXISTS", "Description": "in use"}]}, "failed",
     "account new: creation failed: EMAIL_ALREADY_EXISTS: in use"),
    ({"Status": "SUCCEEDED", "outputs": [{"OutputKey": "AccountId", "OutputValue": "111122223333"}]}, "ready",
     "account new (111122223333): ready"),
])
def test_check_ready_stages_from_the_account_factory_record(record, stage, detail):
    state = accounts.check_ready(FakeAws(record), "new", "rec-1", None, REGIONS, backend="control_tower")
    assert state.stage == stage and state.detail.startswith(detail)


def test_the_trigger_waits_through_the_stages_and_reports_them(monkeypatch):
    """AccountReadinessTrigger on a fake loop clock: each poll advances time by the poke interval."""
    from fleet_airflow.triggers import AccountReadinessTrigger

    script = iter([Readiness("create"), Readiness("role", "111122223333"), Readiness("ready", "111122223333", "ok")])
    monkeypatch.setattr(AccountReadinessTrigger, "fleet_context", lambda self: object())
    monkeypatch.setattr(accounts, "check_ready", lambda *a: next(script))
    trigger = AccountReadinessTrigger(aws_conn_id="aws_default", region_name="us-east-1", pipeline_role="R",
                                      name="new", request_id="car-1", account_id=None, backend="organizations",
                                      regions=list(REGIONS), poll_interval=0.01, timeout_seconds=60, seen=["create"])
    event = asyncio.run(_first(trigger.run()))
    assert event.payload["status"] == "ready" and event.payload["account_id"] == "111122223333"
    assert event.payload["seen"] == ["create", "role", "ready"] and event.payload["polls"] == 3
    # What the triggerer stores and rebuilds the trigger from.
    path, kwargs = trigger.serialize()
    assert path == "fleet_airflow.triggers.AccountReadinessTrigger" and kwargs["name"] == "new"


def test_the_trigger_times_out_naming_the_account(monkeypatch):
    from fleet_airflow.triggers import AccountReadinessTrigger

    monkeypatch.setattr(AccountReadinessTrigger, "fleet_context", lambda self: object())
    monkeypatch.setattr(accounts, "check_ready", lambda *a: Readiness("create", None, "creation IN_PROGRESS"))
    trigger = AccountReadinessTrigger(aws_conn_id="aws_default", region_name="us-east-1", pipeline_role="R",
                                      name="slow-one", request_id="car-1", account_id=None, backend="organizations",
                                      regions=list(REGIONS), poll_interval=0.01, timeout_seconds=0.05)
    event = asyncio.run(_first(trigger.run()))
    assert event.payload["status"] == "failed"
    assert event.payload["detail"].startswith("account slow-one not ready after 0s, still waiting for create")


async def _first(gen):
    async for event in gen:
        return event
