"""The account_vending DAG run by Airflow (dag.test) against local AWS behaving like AWS: creations
that take time, roles and regions that answer late, a failed creation. The one vending DAG run of the
suite, followed by the same requests again through the same tasks without a run; the other vending
cases run that way too (test_vending_tasks.py)."""

from __future__ import annotations

import pytest

from fleet.vending_log import RequestLog

from tests.support.dags import run_vending, xcom
from tests.support.vending import EXISTING, NEW, REALISTIC_FAST, TAKEN, org_emails, vend

pytestmark = pytest.mark.e2e


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

    # The same requests again (the DAG's tasks in order, without a second run): nothing created, every
    # set-up step already done, nothing announced, and the report still names the failed request.
    again = vend(vending_dag, conf, run_id="manual__again")
    log2 = RequestLog(ctx).many([r["email"] for r in conf["accounts"]])
    assert [log2[r["email"]]["outcome"] for r in conf["accounts"]] == ["existed", "existed", "existed", "failed"]
    for r in [*NEW, EXISTING]:
        assert {s["status"] for s in log2[r["email"]]["steps"]} == {"already"}, log2[r["email"]]["steps"]
    assert len(org_emails(ctx)) == len(before) + 2
    assert again.states["announce", -1] == "skipped" and again.announced is None
    assert again.states["report", -1] == "failed" and "EMAIL_ALREADY_EXISTS" in again.errors["report", -1]
