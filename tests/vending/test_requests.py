"""Account requests on local AWS: one outcome each, never created twice, whatever the timing."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from fleet import accounts
from fleet.accounts import Request
from fleet.config import Vending
from fleet.vending_log import RequestLog

ORGS = Vending(backend="organizations")
# Most tests here create accounts by fixed names and emails and count the organization's accounts:
# they take a freshly seeded organization (fresh_fleet). Planning only reads it (seeded_fleet).


def org_emails(ctx) -> list[str]:
    org = ctx.client("organizations")
    return [a["Email"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]


def team(i: int) -> Request:
    return Request(f"team-{i:02d}", f"team-{i:02d}@example.com", "Prod", {"tier": "workload"})


def ready_all(ctx, outcomes):
    return [accounts.wait_ready(ctx, o.name, o.request_id, o.account_id, ("us-east-1", "eu-west-1"), timeout=60,
                                poll=0.2)[0] for o in outcomes]


def test_fifty_at_once_give_fifty_accounts_and_a_rerun_changes_nothing(fresh_fleet, behaviour):
    ctx = fresh_fleet
    behaviour("realistic")  # creations take 3 s, roles and regions answer late
    before = len(org_emails(ctx))
    reqs = [team(i) for i in range(50)]
    with ThreadPoolExecutor(max_workers=50) as pool:  # 50 requesters at the same moment
        first = list(pool.map(lambda r: accounts.request_account(ctx, r, vending=ORGS, run_id="run-1"), reqs))
    assert {o.status for o in first} == {"in-progress"}
    # Asked again while they are being created (a retried task): each is followed, not repeated.
    assert [accounts.request_account(ctx, r, vending=ORGS, run_id="run-1").request_id for r in reqs] == [
        o.request_id for o in first]
    with ThreadPoolExecutor(max_workers=50) as pool:
        states = list(pool.map(lambda o: ready_all(ctx, [o])[0], first))
    assert [s.stage for s in states] == ["ready"] * 50
    assert len({s.account_id for s in states}) == 50
    assert len(org_emails(ctx)) == before + 50

    # The same run again (a retried task): the accounts it created are still "created", nothing new.
    again = [accounts.request_account(ctx, r, vending=ORGS, run_id="run-1") for r in reqs]
    assert {o.status for o in again} == {"created"}
    # Another run: they already exist.
    later = [accounts.request_account(ctx, r, vending=ORGS, run_id="run-2") for r in reqs]
    assert {o.status for o in later} == {"existed"}
    assert sorted(o.account_id for o in later) == sorted(s.account_id for s in states)
    assert len(org_emails(ctx)) == before + 50


def test_an_account_in_the_org_already_is_matched_by_email_whatever_its_name(fresh_fleet):
    out = accounts.request_account(fresh_fleet, Request("another-name", "AUDIT@example.com", "Security"),
                                   vending=ORGS, run_id="run-1")
    assert out.status == "existed" and out.account_id
    assert RequestLog(fresh_fleet).get("audit@example.com")["outcome"] == "existed"


def test_a_lost_response_is_followed_not_repeated(fresh_fleet, behaviour):
    """CreateAccount answered, but the task died before writing its record: the retry finds it."""
    ctx = fresh_fleet
    behaviour("realistic")
    org = ctx.client("organizations")
    status = org.create_account(AccountName="lost-one", Email="lost-one@example.com")["CreateAccountStatus"]
    out = accounts.request_account(ctx, Request("lost-one", "lost-one@example.com", "Prod"), vending=ORGS,
                                   run_id="run-1")
    assert out.status == "in-progress" and out.request_id == status["Id"]
    (state,) = ready_all(ctx, [out])
    assert state.stage == "ready" and org_emails(ctx).count("lost-one@example.com") == 1


def test_a_failed_creation_is_reported_with_its_reason_and_others_finish(fresh_fleet, behaviour):
    ctx = fresh_fleet
    behaviour("realistic")
    reqs = [Request("dup", "taken@example.com", "Prod"), Request("full", "over-limit@example.com", "Prod"),
            team(7)]
    outs = [accounts.request_account(ctx, r, vending=ORGS, run_id="run-1") for r in reqs]
    states = ready_all(ctx, outs)
    assert [s.stage for s in states] == ["failed", "failed", "ready"]
    assert states[0].detail == "account dup: creation failed: EMAIL_ALREADY_EXISTS"
    assert states[1].detail == "account full: creation failed: ACCOUNT_LIMIT_EXCEEDED"
    # The same run asking again reports the failure; it does not ask AWS a second time.
    again = accounts.request_account(ctx, reqs[0], vending=ORGS, run_id="run-1")
    assert again.status == "failed" and again.reason == "EMAIL_ALREADY_EXISTS"
    assert again.request_id == outs[0].request_id


def test_plan_requests_from_the_config_and_from_the_param(seeded_fleet, tmp_path):
    from fleet.config import ConfigError, load_config

    fleet = load_config("include/fleet.yaml")
    assert accounts.plan_requests(seeded_fleet, fleet) == []  # every config account is in the org
    planned = accounts.plan_requests(seeded_fleet, fleet, [{"name": "new-one", "email": "new-one@example.com",
                                                            "ou": "Prod", "tags": {"team": "x"}}])
    assert planned == [Request("new-one", "new-one@example.com", "Prod", {"team": "x"})]
    with pytest.raises(ConfigError) as bad:
        accounts.plan_requests(seeded_fleet, fleet, [{"name": "ok", "email": "not-an-email", "ou": "Nowhere"}])
    assert "the accounts Param: accounts[0].email: an email address" in str(bad.value)
    assert "accounts[0].ou: an OU declared under ous" in str(bad.value)


def test_final_outcomes_name_every_request_once(fresh_fleet):
    ctx = fresh_fleet
    log = RequestLog(ctx)
    reqs = [team(1), team(2), Request("never", "never@example.com", "Prod")]
    for r in reqs[:2]:
        accounts.request_account(ctx, r, vending=ORGS, run_id="run-9")
    accounts.settle(log, reqs[0], "run-9", accounts.Readiness("ready", "111111111111"))
    log.update(reqs[0].email, stage="set-up")
    accounts.settle(log, reqs[1], "run-9", accounts.Readiness("failed", None, "account team-02 not ready after 5s"))
    out = accounts.final_outcomes(log, reqs)
    assert [(o["name"], o["outcome"]) for o in out] == [("team-01", "created"), ("team-02", "failed"),
                                                         ("never", "failed")]
    assert out[1]["reason"] == "account team-02 not ready after 5s"
    assert out[2]["reason"].startswith("never requested")


def test_control_tower_account_factory_feeds_the_same_readiness(fresh_fleet):
    ctx = fresh_fleet
    ct = Vending(backend="control_tower")
    reqs = [Request("ct-01", "ct-01@example.com", "Prod"), Request("ct-02", "ct-02@example.com", "Beta")]
    first = [accounts.request_account(ctx, r, vending=ct, run_id="run-1") for r in reqs]
    assert {o.status for o in first} == {"in-progress"} and all(o.request_id for o in first)
    states = [accounts.wait_ready(ctx, o.name, o.request_id, None, ("us-east-1",), timeout=30, poll=0.2,
                                  backend="control_tower")[0] for o in first]
    assert [s.stage for s in states] == ["ready", "ready"]
    org = ctx.client("organizations")
    for s, r in zip(states, reqs):  # Control Tower put each account in its ManagedOrganizationalUnit
        parent = org.list_parents(ChildId=s.account_id)["Parents"][0]["Id"]
        assert org.describe_organizational_unit(OrganizationalUnitId=parent)["OrganizationalUnit"]["Name"] == r.ou
    # A retried task in the same run, then a new run: nothing is provisioned twice.
    assert {accounts.request_account(ctx, r, vending=ct, run_id="run-1").status for r in reqs} == {"created"}
    assert {accounts.request_account(ctx, r, vending=ct, run_id="run-2").status for r in reqs} == {"existed"}
    sc = ctx.client("servicecatalog")
    names = [p["Name"] for p in sc.search_provisioned_products()["ProvisionedProducts"]]
    assert sorted(names) == ["ct-01", "ct-02"]
    assert org_emails(ctx).count("ct-01@example.com") == 1
