"""The account_vending DAG run by Airflow (dag.test) against local AWS behaving like AWS: creations
that take time, roles and regions that answer late, failed creations, throttling."""

from __future__ import annotations

from fleet.vending_log import RequestLog

from tests.support.dags import run_vending, xcom

REALISTIC_FAST = {  # the realistic profile's states, shorter
    "name": "realistic-fast",
    "organizations": {"create_account": {"in_progress_seconds": 2,
                                         "failures": {"taken@example.com": "EMAIL_ALREADY_EXISTS"}},
                      "role_assumable_after_seconds": 0.6, "regions_answer_after_seconds": 0.6},
    "cloudformation": {"in_progress_seconds": 0.5},
}
NEW = [{"name": "new-a", "email": "new-a@example.com", "ou": "Prod", "tags": {"team": "a"}},
       {"name": "new-b", "email": "new-b@example.com", "ou": "Beta"}]
EXISTING = {"name": "audit", "email": "audit@example.com", "ou": "Security", "tags": {"tier": "core"}}
TAKEN = {"name": "dup", "email": "taken@example.com", "ou": "Prod"}


def org_emails(ctx) -> list[str]:
    org = ctx.client("organizations")
    return [a["Email"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]


def asset_events(dr):
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (session.query(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                .filter(AssetModel.name == "fleet_vended_accounts", AssetEvent.source_run_id == dr.run_id).all())
        return [dict(e.extra) for e in rows]


def test_vending_on_the_realistic_profile_then_a_rerun_changes_nothing(vending_env, vending_dag, behaviour):
    ctx = vending_env
    behaviour(REALISTIC_FAST)
    before = org_emails(ctx)
    conf = {"accounts": [*NEW, EXISTING, TAKEN], "poll_seconds": 0.3}
    dr, tis = run_vending(vending_dag, conf)

    assert str(dr.state) == "failed"  # one request failed, and the report says so
    states = {k: str(ti.state) for k, ti in tis.items()}
    assert [states[("vend.set_up", i)] for i in range(3)] == ["success"] * 3
    assert states[("vend.wait_ready", 3)] == "failed" and states[("vend.set_up", 3)] == "upstream_failed"
    assert states[("announce", -1)] == "success" and states[("report", -1)] == "failed"

    assert all(xcom(dr, "vend.wait_ready", i)["seen"][-1] == "ready" for i in (0, 1, 2))
    assert xcom(dr, "vend.wait_ready", 2)["seen"] == ["ready"]  # audit: in the organization already

    log = RequestLog(ctx).many([r["email"] for r in conf["accounts"]])
    assert [log[r["email"]]["outcome"] for r in conf["accounts"]] == ["created", "created", "existed", "failed"]
    assert "EMAIL_ALREADY_EXISTS" in log["taken@example.com"]["reason"]
    assert org_emails(ctx).count("new-a@example.com") == 1 and "taken@example.com" not in org_emails(ctx)
    assert len(org_emails(ctx)) == len(before) + 2
    assert asset_events(dr) == [{"accounts": [
        {"name": "new-a", "id": log["new-a@example.com"]["account_id"], "email": "new-a@example.com", "ou": "Prod"},
        {"name": "new-b", "id": log["new-b@example.com"]["account_id"], "email": "new-b@example.com", "ou": "Beta"}]}]

    # The same request again: nothing created, every set-up step already done, nothing announced.
    again, tis2 = run_vending(vending_dag, conf)
    log2 = RequestLog(ctx).many([r["email"] for r in conf["accounts"]])
    assert [log2[r["email"]]["outcome"] for r in conf["accounts"]] == ["existed", "existed", "existed", "failed"]
    for r in [*NEW, EXISTING]:
        assert {s["status"] for s in log2[r["email"]]["steps"]} == {"already"}, log2[r["email"]]["steps"]
    assert len(org_emails(ctx)) == len(before) + 2
    assert str(tis2[("announce", -1)].state) == "skipped" and asset_events(again) == []


def test_the_sensor_defers_and_its_trigger_sees_every_state(vending_env, vending_dag, behaviour):
    """dag.test hands a deferred sensor's trigger to an in-line triggerer, as the triggerer would."""
    behaviour(REALISTIC_FAST)
    dr, tis = run_vending(vending_dag, {"accounts": [NEW[0]], "poll_seconds": 0.2})
    assert str(dr.state) == "success"
    ready = xcom(dr, "vend.wait_ready", 0)
    assert ready["deferred"] is True and ready["polls"] >= 4, ready
    assert ready["seen"] == ["create", "role", "regions", "ready"], ready
    assert tis[("vend.wait_ready", 0)].next_method is None  # it came back from the trigger and finished


def test_a_readiness_timeout_fails_naming_the_account(vending_env, vending_dag, behaviour):
    behaviour({"organizations": {"create_account": {"in_progress_seconds": 120}}})
    conf = {"accounts": [{"name": "slow-01", "email": "slow-01@example.com", "ou": "Prod"}],
            "poll_seconds": 0.3, "readiness_timeout_minutes": 0.03}
    dr, tis = run_vending(vending_dag, conf)
    assert str(dr.state) == "failed" and str(tis[("vend.wait_ready", 0)].state) == "failed"
    reason = RequestLog(vending_env).get("slow-01@example.com")["reason"]
    assert reason.startswith("account slow-01 not ready after 2s, still waiting for create"), reason


def test_throttling_at_30_percent_still_completes_every_request(vending_env, vending_dag, behaviour, monkeypatch):
    from fleet.aws import AwsContext

    throttled = count_throttling(monkeypatch, AwsContext)
    # 30% of the calls vending makes: Organizations, STS, CloudFormation (CreateAccount, the readiness
    # checks, the baseline). Adaptive retry also slows each throttled client down (to about one call a
    # second under random throttling), which is why the guardrail services are left out: the test
    # would take minutes without showing more.
    services = ["organizations", "sts", "cloudformation"]
    behaviour({"seed": 11, "throttling": [{"service": s, "rate": 0.3} for s in services]})
    accounts = [{"name": f"busy-{i}", "email": f"busy-{i}@example.com", "ou": "Prod"} for i in range(2)]
    dr, tis = run_vending(vending_dag, {"accounts": accounts, "poll_seconds": 0.3})
    assert str(dr.state) == "success", {k: str(t.state) for k, t in tis.items()}
    log = RequestLog(vending_env).many([a["email"] for a in accounts])
    assert [log[a["email"]]["outcome"] for a in accounts] == ["created"] * 2
    assert {ti.try_number for ti in tis.values()} == {1}  # absorbed by the retry policy, not by task retries
    assert len(throttled) >= 20, len(throttled)  # it really was throttled, and retried each time
    assert set(throttled) <= {"TooManyRequestsException", "Throttling", "ThrottlingException"}


def count_throttling(monkeypatch, context_class) -> list[str]:
    """Every throttling answer any fleet client receives (tasks run in this process under dag.test)."""
    seen: list[str] = []
    make = context_class.client

    def on_retry(response=None, **_):
        code = (response or (None, {}))[1].get("Error", {}).get("Code") if response else None
        if code in ("TooManyRequestsException", "Throttling", "ThrottlingException"):
            seen.append(code)

    def client(self, service, account_id=None, region=None):
        c = make(self, service, account_id, region)
        if not getattr(c, "_counting_throttles", False):
            c.meta.events.register("needs-retry", on_retry)
            c._counting_throttles = True
        return c

    monkeypatch.setattr(context_class, "client", client)
    return seen


def test_control_tower_back_end_through_the_dag(vending_env, vending_dag, behaviour, fleet_repo):
    fleet_repo.edit(lambda d: d.setdefault("vending", {}).update(backend="control_tower"))
    behaviour(REALISTIC_FAST)
    conf = {"fleet_repo": str(fleet_repo.path), "poll_seconds": 0.3,
            "accounts": [{"name": "ct-a", "email": "ct-a@example.com", "ou": "Gamma"}, TAKEN]}
    dr, tis = run_vending(vending_dag, conf)
    log = RequestLog(vending_env).many(["ct-a@example.com", "taken@example.com"])
    assert log["ct-a@example.com"]["outcome"] == "created" and log["ct-a@example.com"]["stage"] == "set-up"
    assert log["ct-a@example.com"]["backend"] == "control_tower"
    assert "EMAIL_ALREADY_EXISTS" in log["taken@example.com"]["reason"]
    assert xcom(dr, "vend.wait_ready", 0)["seen"][-1] == "ready"
    sc = vending_env.client("servicecatalog")
    assert sorted(p["Name"] for p in sc.search_provisioned_products()["ProvisionedProducts"]) == ["ct-a", "dup"]
