"""Through the user's door, with Airflow's real API server (a subprocess on a free port): log in as
an approver, trigger every DAG through the REST API with no conf (the Params' defaults), read the
Fleet API; no login, no data.

What this does not do yet: run the scheduler, dag-processor and triggerer so the triggered pipeline
runs to its end and is approved through the HITL API (README, "Tests").
"""

from __future__ import annotations

import pytest



@pytest.fixture
def stack(airflow_stack):
    return airflow_stack


@pytest.mark.parametrize("dag_id", ["account_fleet_pipeline", "account_vending", "fleet_drift"])
def test_every_dag_triggers_through_the_rest_api_with_no_conf(stack, dag_id):
    token = stack.token("platform-lead")
    status, run = stack.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None})
    assert status == 200, f"{dag_id}: trigger refused ({status}): {run}"
    assert run["conf"] == {} and run["state"] == "queued", run


def test_the_fleet_api_needs_a_login_and_answers_an_approver(stack):
    assert stack.request("GET", "/fleet/api/accounts")[0] == 401
    status, body = stack.request("GET", "/fleet/api/accounts", stack.token("platform-lead"))
    assert status == 200, body
    assert sum(body["counts"].values()) == len(body["accounts"]) >= 15 and "Prod" in body["ous"]
    assert {a["name"] for a in body["accounts"]} >= {f"app-prod-0{i}" for i in range(1, 9)}
    status, html = stack.request("GET", "/fleet/", stack.token("admin"))
    assert status == 200 and "<h1>Fleet</h1>" in html


def test_the_ui_lists_the_fleet_view_in_the_navigation_and_on_runs(stack):
    status, body = stack.request("GET", "/api/v2/plugins", stack.token("admin"))
    assert status == 200, body
    views = {v["name"]: v for p in body["plugins"] for v in p["external_views"]}
    assert views["Fleet"]["href"] == "/fleet/" and views["Fleet report"]["destination"] == "dag_run"
