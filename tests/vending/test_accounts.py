"""Account requests end in exactly one outcome each, and readiness waits with an injected clock."""

from __future__ import annotations

from fleet import accounts
from fleet.accounts import Readiness, Request


def emails(ctx) -> list[str]:
    org = ctx.client("organizations")
    return [a["Email"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]


def test_fifty_requests_give_fifty_accounts_and_a_rerun_changes_nothing(seeded_fleet):
    requests = [Request(f"team-{i:02d}", f"team-{i:02d}@example.com") for i in range(50)]
    requests.append(Request("audit", "audit@example.com"))  # already in the organization
    before = len(emails(seeded_fleet))
    first = accounts.request_accounts(seeded_fleet, requests)
    assert [o.status for o in first].count("created") == 50 and first[-1].status == "existed"
    assert len({o.account_id for o in first}) == 51
    again = accounts.request_accounts(seeded_fleet, requests)
    assert {o.status for o in again} == {"existed"}
    assert [o.account_id for o in again] == [o.account_id for o in first]
    assert len(emails(seeded_fleet)) == before + 50


def test_a_created_account_is_ready_through_its_role_in_every_region(seeded_fleet):
    (created,) = accounts.request_accounts(seeded_fleet, [Request("new-one", "new-one@example.com")])
    state = accounts.check_ready(seeded_fleet, "new-one", created.request_id, None, ("us-east-1", "eu-west-1"))
    assert state.stage == "ready" and state.account_id == created.account_id


def test_wait_ready_walks_the_stages_without_real_sleeps():
    stages = iter([Readiness("create"), Readiness("role", "111122223333"), Readiness("regions", "111122223333"),
                   Readiness("ready", "111122223333")])
    slept = []
    state = accounts.wait_ready(None, "new-one", "car-1", None, ("us-east-1",), timeout=600, poll=15,
                                sleep=slept.append, clock=lambda: 0.0, check=lambda *a: next(stages))
    assert state.stage == "ready" and slept == [15, 15, 15]


def test_wait_ready_times_out_naming_the_account_and_the_stage():
    now = [0.0]

    def sleep(seconds):
        now[0] += seconds

    state = accounts.wait_ready(None, "app-prod-09", "car-1", None, ("us-east-1",), timeout=60, poll=15,
                                sleep=sleep, clock=lambda: now[0],
                                check=lambda *a: Readiness("role", "111122223333", "role not assumable yet"))
    assert state.stage == "failed" and now[0] == 60
    assert state.detail.startswith("app-prod-09: not ready after 60s, still waiting for role")


def test_a_failed_creation_reports_aws_reason():
    class Org:
        def describe_create_account_status(self, CreateAccountRequestId):
            return {"CreateAccountStatus": {"State": "FAILED", "FailureReason": "EMAIL_ALREADY_EXISTS"}}

    class Ctx:
        def client(self, service, *a):
            return Org()

    state = accounts.check_ready(Ctx(), "dup", "car-9", None, ("us-east-1",))
    assert state.stage == "failed" and state.detail == "dup: CreateAccount failed: EMAIL_ALREADY_EXISTS"
