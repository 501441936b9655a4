"""Through the user's door, with Airflow's real components (api-server, scheduler, dag-processor,
triggerer as subprocesses, on a free port) and local AWS: trigger through the REST API with no conf
(the Params' defaults), approve as an approver through the HITL API, and read the Fleet API.

The pipeline run here is the one `make up` gives an operator: the sample config decides in the UI
(``approval.ui: true``), so the run parks at ``prod.ui_approval`` (awaiting input) until an
approver answers; someone who is not an approver is refused by Airflow itself.
"""

from __future__ import annotations

import time
from urllib.parse import quote

import pytest

from tests.support import REPO

DAG = "account_fleet_pipeline"


@pytest.fixture
def stack(airflow_stack):
    return airflow_stack


@pytest.mark.parametrize("dag_id", ["account_vending", "fleet_drift"])
def test_every_other_dag_triggers_through_the_rest_api_with_no_conf(stack, dag_id):
    # account_fleet_pipeline's no-conf trigger is the operator's path below, run to its end.
    token = stack.token("platform-lead")
    status, run = stack.request("POST", f"/api/v2/dags/{dag_id}/dagRuns", token, {"logical_date": None})
    assert status == 200, f"{dag_id}: trigger refused ({status}): {run}"
    assert run["conf"] == {} and run["state"] == "queued", run


def hitl_path(run_id: str, task_id: str = "prod.ui_approval") -> str:
    return f"/api/v2/dags/{DAG}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}/-1/hitlDetails"


def test_operator_path_trigger_with_defaults_approve_in_the_ui_and_the_fleet_is_in_sync(stack, fresh_fleet):
    from fleet.config import load_config

    admin = stack.token("admin")
    status, run = stack.request("POST", f"/api/v2/dags/{DAG}/dagRuns", admin, {"logical_date": None})
    assert status == 200 and run["conf"] == {}, run
    run_id = run["dag_run_id"]

    # The run waits in Required actions for an approver; no worker slot or trigger holds the wait.
    stack.wait_task(DAG, run_id, "prod.ui_approval", "awaiting_input", admin)
    # Answer a moment later, as a person would: an answer in the same second as the park was once
    # seen to be lost (the task ran again from execute and parked anew; README, "Not built yet").
    time.sleep(3)
    status, detail = stack.request("GET", hitl_path(run_id), admin)
    assert status == 200, detail
    assert {u["id"] for u in detail["assigned_users"]} == {"platform-lead", "security-lead"}
    assert "reason" in detail["params"], detail["params"]  # the Reason field the form shows

    # admin triggered the run and is no approver: Airflow refuses the answer, nothing changes.
    status, body = stack.request("PATCH", hitl_path(run_id), admin,
                                 {"chosen_options": ["Approve"], "params_input": {"reason": "me"}})
    assert status == 403, (status, body)
    assert stack.task_states(DAG, run_id, admin)["prod.ui_approval"] == "awaiting_input"

    lead = stack.token("platform-lead")
    status, body = stack.request("PATCH", hitl_path(run_id), lead,
                                 {"chosen_options": ["Approve"], "params_input": {"reason": "plan reviewed"}})
    assert status == 200, (status, body)

    finished = stack.wait_run(DAG, run_id, admin)
    states = stack.task_states(DAG, run_id, admin)
    assert finished["state"] == "success", states
    assert states["prod.approval"] == "success" and states["prod.rollout"] == "success", states

    # The Fleet API: the run's report and every prod account in sync with the run's bundle.
    status, report = stack.request("GET", f"/fleet/api/runs/{quote(run_id, safe='')}", lead)
    assert status == 200, report
    digest = report["bundle"]["digest"]
    status, fleet = stack.request("GET", "/fleet/api/accounts", lead)
    assert status == 200, fleet
    prod = {a.name for a in load_config(REPO / "include" / "fleet.yaml").accounts if a.ou == "Prod"}
    seen = {a["name"]: a for a in fleet["accounts"] if a["name"] in prod}
    assert set(seen) == prod, f"prod accounts missing from the Fleet API: {prod - set(seen)}"
    off = {n: (a["status"], a["bundle_digest"]) for n, a in seen.items()
           if a["status"] != "in_sync" or a["bundle_digest"] != digest}
    assert not off, f"not in sync with {digest[:12]}: {off}"
    status, pending = stack.request("GET", "/fleet/api/approvals", lead)
    assert status == 200 and run_id not in {p["run_id"] for p in pending["pending"]}, pending


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


def test_a_push_event_on_the_queue_becomes_the_pipelines_asset_event_through_the_triggerer(stack):
    """The AssetWatcher as deployed: the dag-processor registers it, the real triggerer polls the
    stack's SQS queue, and a push to the fleet repo's branch becomes a fleet_repo_pushes asset event
    queued for the pipeline; a push to another branch does not. (This stack turns the scheduler's
    run creation off, cron and asset alike, so no run appears beside the tests' own: the queued
    event is what the scheduler turns into a run; the run's use of the commit is tested in
    tests/adapters/test_push_trigger.py.)"""
    import json
    import uuid

    from localaws.clients import client

    def push(branch: str, sha: str) -> None:
        event = {"version": "0", "id": str(uuid.uuid4()), "detail-type": "CodeCommit Repository State Change",
                 "source": "aws.codecommit", "account": "123456789012", "region": "us-east-1",
                 "resources": ["arn:aws:codecommit:us-east-1:123456789012:fleet"],
                 "detail": {"event": "referenceUpdated", "referenceType": "branch", "referenceName": branch,
                            "referenceFullName": f"refs/heads/{branch}", "commitId": sha, "repositoryName": "fleet"}}
        sqs.send_message(QueueUrl=stack.push_queue_url, MessageBody=json.dumps(event))

    def pushed_commits() -> list[str]:
        status, body = stack.request("GET", "/api/v2/assets/events?name_pattern=fleet_repo_pushes&limit=50", admin)
        assert status == 200, body
        batches = [(e["extra"] or {}).get("payload", {}).get("message_batch", []) for e in body["asset_events"]]
        return [json.loads(m["Body"])["detail"]["commitId"] for batch in batches for m in batch]

    admin = stack.token("admin")
    sqs = client("sqs", json.loads(stack.env["AIRFLOW_CONN_AWS_DEFAULT"])["extra"]["endpoint_url"])
    # Another test's fresh organization may have reset local AWS, queue included; the triggerer
    # restarts the watcher's failed trigger every few seconds, so the queue made again is found.
    sqs.create_queue(QueueName=stack.push_queue_url.rsplit("/", 1)[1], Attributes={"VisibilityTimeout": "0"})
    other, ours = "d" * 40, "e" * 40
    push("feature/x", other)
    push("main", ours)
    deadline = time.monotonic() + 120
    while ours not in (seen := pushed_commits()) and time.monotonic() < deadline:
        stack.check_alive()
        time.sleep(2)
    assert ours in seen, f"no asset event for the push within 120 s; triggerer log:\n{stack.log_tail('triggerer')}"
    assert other not in seen, seen
    status, queued = stack.request("GET", f"/api/v2/dags/{DAG}/assets/queuedEvents", admin)
    assert status == 200, queued
    assert any(q["asset_id"] for q in queued["queued_events"]), queued
