"""account_vending's cases through its own task functions and the readiness sensor and trigger,
without a DAG run (tests/support/vending.py runs them in order): the deferral, a readiness timeout,
throttling, the Control Tower back end. test_vending_dag.py keeps one real run."""

from __future__ import annotations

from airflow.sdk.exceptions import TaskDeferred

from fleet.vending_log import RequestLog
from fleet_airflow.triggers import AccountReadinessTrigger

from tests.support.vending import NEW, REALISTIC_FAST, TAKEN, count_throttling, vend


def test_the_sensor_defers_and_its_trigger_sees_every_state(vending_env, vending_dag, behaviour):
    behaviour(REALISTIC_FAST)
    out = vend(vending_dag, {"accounts": [NEW[0]], "poll_seconds": 0.2})
    assert out.states["report", -1] == "success", out.states
    deferred = out.deferrals[0]
    assert isinstance(deferred, TaskDeferred) and deferred.method_name == "execute_complete"
    assert isinstance(deferred.trigger, AccountReadinessTrigger)
    path, kwargs = deferred.trigger.serialize()  # what the triggerer stores and rebuilds it from
    assert type(deferred.trigger)(**kwargs).serialize() == (path, kwargs)
    ready = out.xcoms["vend.wait_ready", 0]
    assert ready["deferred"] is True and ready["polls"] >= 4, ready
    assert ready["seen"] == ["create", "role", "regions", "ready"], ready
    assert out.states["vend.set_up", 0] == "success" and out.announced["accounts"][0]["name"] == NEW[0]["name"]


def test_a_readiness_timeout_fails_naming_the_account(vending_env, vending_dag, behaviour):
    behaviour({"organizations": {"create_account": {"in_progress_seconds": 120}}})
    params = {"accounts": [{"name": "slow-01", "email": "slow-01@example.com", "ou": "Prod"}],
              "poll_seconds": 0.3, "readiness_timeout_minutes": 0.03}
    out = vend(vending_dag, params)
    assert out.states["vend.wait_ready", 0] == "failed" and out.states["vend.set_up", 0] == "upstream_failed"
    assert out.states["report", -1] == "failed"
    reason = RequestLog(vending_env).get("slow-01@example.com")["reason"]
    assert reason.startswith("account slow-01 not ready after 2s, still waiting for create"), reason


def test_throttling_at_30_percent_still_completes_every_request(vending_env, vending_dag, behaviour, monkeypatch):
    from fleet.aws import AwsContext

    throttled = count_throttling(monkeypatch, AwsContext)
    # 30% of the calls vending makes: Organizations, STS, CloudFormation (CreateAccount, the readiness
    # checks, the baseline). Adaptive retry also slows each throttled client down (to about one call a
    # second under random throttling), which is why the guardrail services are left out.
    services = ["organizations", "sts", "cloudformation"]
    behaviour({"seed": 11, "throttling": [{"service": s, "rate": 0.3} for s in services]})
    accounts = [{"name": f"busy-{i}", "email": f"busy-{i}@example.com", "ou": "Prod",
                 "tags": {"vpc_cidr": f"10.21{i}.0.0/16"}} for i in range(2)]  # Prod's network baseline reads it
    # Any other exception than a verdict (a throttling error the retry policy let through) fails
    # this test: no task retry absorbs it here.
    out = vend(vending_dag, {"accounts": accounts, "poll_seconds": 0.3})
    assert set(out.states.values()) == {"success"}, out.states
    log = RequestLog(vending_env).many([a["email"] for a in accounts])
    assert [log[a["email"]]["outcome"] for a in accounts] == ["created"] * 2
    assert len(throttled) >= 20, len(throttled)  # it really was throttled, and retried each time
    assert set(throttled) <= {"TooManyRequestsException", "Throttling", "ThrottlingException"}


def test_control_tower_back_end(vending_env, vending_dag, behaviour, fleet_repo):
    fleet_repo.edit(lambda d: d.setdefault("vending", {}).update(backend="control_tower"))
    behaviour(REALISTIC_FAST)
    params = {"fleet_repo": str(fleet_repo.path), "poll_seconds": 0.3,
              "accounts": [{"name": "ct-a", "email": "ct-a@example.com", "ou": "Gamma"}, TAKEN]}
    out = vend(vending_dag, params)
    log = RequestLog(vending_env).many(["ct-a@example.com", "taken@example.com"])
    assert log["ct-a@example.com"]["outcome"] == "created" and log["ct-a@example.com"]["stage"] == "set-up"
    assert log["ct-a@example.com"]["backend"] == "control_tower"
    assert "EMAIL_ALREADY_EXISTS" in log["taken@example.com"]["reason"]
    assert out.xcoms["vend.wait_ready", 0]["seen"][-1] == "ready"
    sc = vending_env.client("servicecatalog")
    assert sorted(p["Name"] for p in sc.search_provisioned_products()["ProvisionedProducts"]) == ["ct-a", "dup"]
