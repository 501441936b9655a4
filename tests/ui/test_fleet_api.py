"""The Fleet page as the API server serves it: mounted by the plugin at /fleet, behind Airflow's login.

Airflow's own app (``create_app``, as ``airflow api-server`` builds it) with the plugins folder of
this repository; tokens come from its auth manager, as ``POST /auth/token`` issues them.
"""

from __future__ import annotations

import json
import uuid

import pytest

from tests.support import REPO


@pytest.fixture(scope="module")
def api(airflow_db):
    from fastapi.testclient import TestClient

    from airflow.api_fastapi.app import create_app, get_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    app = create_app()
    client = TestClient(app)
    token = get_auth_manager().generate_jwt(SimpleAuthManagerUser(username="viewer", role="viewer"))
    return client, {"Authorization": f"Bearer {token}"}


@pytest.fixture
def fleet(api, seeded_fleet, seeded_org):
    """The mounted Fleet app reads a FleetView with a bucket and tables of this test's own."""
    from fleet.aws import ensure_table
    from fleet.config import load_config
    from fleet.fleetview import FleetView
    from fleet.ledger import Ledger
    from fleet_airflow.ui import app as fleet_app

    tag = uuid.uuid4().hex[:8]
    ctx = seeded_fleet
    ctx.client("s3").create_bucket(Bucket=f"fleet-api-{tag}")
    view = FleetView(ctx, load_config(REPO / "include" / "fleet.yaml"), bucket=f"fleet-api-{tag}",
                     ledger_table=f"ledger-{tag}", requests_table=f"requests-{tag}")
    Ledger(ctx, view.ledger_table).ensure_table()
    ensure_table(ctx.client("dynamodb"), view.requests_table, {"email": "HASH"})
    fleet_app.app.dependency_overrides[fleet_app.fleet_view] = lambda: view
    yield view
    fleet_app.app.dependency_overrides.clear()


@pytest.mark.parametrize("path", ["/fleet/", "/fleet/api/accounts", "/fleet/api/runs/r1", "/fleet/runs/r1",
                                  "/fleet/api/approvals", "/fleet/api/vending", "/fleet/api/drift",
                                  "/fleet/api/rollout"])
def test_no_token_no_session_is_refused(api, path):
    client, _ = api
    assert client.get(path).status_code == 401
    assert client.get(path, headers={"Authorization": "Bearer not-a-jwt"}).status_code == 403
    assert client.get(path, cookies={"_token": "not-a-jwt"}).status_code == 403


def test_the_plugin_registers_the_app_and_the_views(api):
    client, auth = api
    plugins = client.get("/api/v2/plugins", headers=auth).json()["plugins"]
    fleet = next(p for p in plugins if p["name"] == "fleet")
    assert [a["url_prefix"] for a in fleet["fastapi_apps"]] == ["/fleet"]
    views = {v["name"]: v for v in fleet["external_views"]}
    assert views["Fleet"]["destination"] == "nav" and views["Fleet"]["href"] == "/fleet/"
    assert views["Fleet report"]["destination"] == "dag_run" and "{RUN_ID}" in views["Fleet report"]["href"]


def test_accounts_json_and_page_for_a_logged_in_user(api, fleet):
    from fleet.ledger import Ledger
    from fleet.stacks import DeployResult

    client, auth = api
    account_id = fleet.ctx.client("organizations").list_accounts()["Accounts"][0]["Id"]
    name = next(a["Name"] for a in fleet.ctx.client("organizations").list_accounts()["Accounts"]
                if a["Id"] == account_id)
    Ledger(fleet.ctx, fleet.ledger_table).record(
        [(DeployResult(account_id, name, "us-east-1", "fleet-security-baseline", "created"), "d" * 64)], "run-9")
    body = client.get("/fleet/api/accounts", headers=auth).json()
    row = next(a for a in body["accounts"] if a["account_id"] == account_id)
    assert row["status"] == "in_sync" and row["bundle_digest"] == "d" * 64 and row["last_run_id"] == "run-9"
    assert set(row) >= {"account_id", "name", "ou", "tags", "status", "bundle_digest", "last_run_id",
                        "last_good_digest", "stacks"}
    assert [st["baseline"] for st in row["stacks"]] == ["security-baseline"]  # the per-stack detail names it
    assert client.get("/fleet/api/accounts?status=in_sync", headers=auth).json()["counts"]["in_sync"] == 1
    bad = client.get("/fleet/api/accounts?status=green", headers=auth)
    assert bad.status_code == 422 and "in_sync" in bad.json()["detail"]
    bad_ou = client.get("/fleet/api/accounts?ou=Nowhere", headers=auth)
    assert bad_ou.status_code == 422 and "Prod" in bad_ou.json()["detail"]
    html = client.get("/fleet/?status=in_sync", headers=auth)
    assert html.status_code == 200 and "<h1>Fleet</h1>" in html.text and name in html.text
    assert "nothing is waiting for approval" in html.text and "no drift sweep yet" in html.text


def test_run_report_json_and_page(api, fleet):
    from fleet import report

    client, auth = api
    run_id = "manual__2026-12-01T02:00:00+00:00"
    doc = report.build(run_id, {"bucket": fleet.bucket, "digest": "e" * 64}, {"build": {"status": "failed",
                       "reason": "build.gates: build gates found 1 error(s)"}})
    doc["failures"] = [{"stage": "build", "task": "build.gates", "state": "failed",
                        "reason": "build gates found 1 error(s)"}]
    report.store(fleet.ctx, doc)
    assert client.get(f"/fleet/api/runs/{run_id}", headers=auth).json()["failures"] == doc["failures"]
    page = client.get(f"/fleet/runs/{run_id}", headers=auth)
    assert page.status_code == 200 and "build gates found 1 error(s)" in page.text
    missing = client.get("/fleet/runs/scheduled__nothing", headers=auth)
    assert missing.status_code == 404 and "No run report" in missing.text
    assert client.get("/fleet/api/runs/scheduled__nothing", headers=auth).status_code == 404
    assert json.loads(client.get("/fleet/api/rollout", headers=auth).text) == {"rollout": None}
