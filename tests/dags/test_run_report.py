"""The run report's Airflow side: task states become stage statuses, XComs become stage results."""

from __future__ import annotations

import pytest

from fleet_airflow.report import REPORTED_TASKS, run_results, stage_status, write_report

BUNDLE = {"bucket": "b", "digest": "d" * 64, "commit": "c" * 40, "files": 9, "key": "k"}


@pytest.mark.parametrize("states, expected", [
    ({}, "not run"),
    ({"prod.plan": "success", "prod.approval": "skipped", "prod.auto_approve": "success"}, "success"),
    ({"prod.plan": "success", "prod.rollout": "failed"}, "failed"),
    ({"prod.plan": "upstream_failed"}, "failed"),
    ({"prod.plan": "skipped", "prod.rollout": None}, "skipped"),
    ({"prod.plan": "success", "prod.rollout": "running"}, "incomplete"),
    ({"production.plan": "failed"}, "not run"),  # another stage whose name merely starts the same
])
def test_stage_status_from_task_states(states, expected):
    assert stage_status(states, "prod") == expected


def test_every_reported_task_belongs_to_a_stage_or_the_source_preflight():
    assert {t.split(".")[0] for t in REPORTED_TASKS} == {"source", "build", "beta", "gamma", "prod"}
    assert set(run_results({t: None for t in REPORTED_TASKS}).deployments) == set()


def test_a_halted_rollout_names_every_account_and_the_run_fails():
    rollout = {"halted": True, "not_started": ["app-prod-09"], "waves": [{
        "results": [{"account_name": "app-prod-01", "account_id": "1", "region": "us-east-1", "status": "failed",
                     "error": "AccessDenied"}],
        "rolled_back": [{"account_id": "1", "region": "us-east-1", "status": "rolled-back"}]}]}
    states = {"source.snapshot": "success", "build.gates": "success", "prod.plan": "success",
              "prod.rollout": "failed"}
    xcoms = {"source.snapshot": BUNDLE, "build.gates": {"errors": 0, "warnings": 2},
             "prod.plan": {"summary": "1 account: 1 change"}, "prod.auto_approve": {"approver": "fleet-pipeline"},
             "prod.rollout": rollout}
    doc = write_report(None, "run-1", states, xcoms)
    assert doc["status"] == "failed" and doc["location"] is None  # no context: nothing stored
    stages = doc["report"]["stages"]
    assert stages["source"]["summary"] == f"9 files, digest {'d' * 12}"
    assert stages["build"] == {"status": "success", "summary": "0 errors, 2 warnings"}
    assert stages["beta"] == {"status": "not run"}
    assert stages["prod"]["summary"] == "1 waves, 1 stacks, HALTED"
    assert stages["prod"]["plan"] == "1 account: 1 change; approved automatically"
    assert doc["report"]["accounts"] == {"app-prod-01": {"prod": "failed, then rolled-back"},
                                         "app-prod-09": {"prod": "not started"}}
    assert "app-prod-09" in doc["text"]


def test_a_failed_run_names_the_failing_stage_task_and_reason_and_what_it_kept_from_running():
    states = {"source.preflight": "success", "source.snapshot": "success", "build.gates": "failed",
              "beta.deploy": "upstream_failed", "prod.plan": "upstream_failed"}
    reasons = {"build.gates": "build gates found 2 error(s); nothing is deployed"}
    doc = write_report(None, "run-2", states, {"source.snapshot": BUNDLE}, reasons)
    failures = doc["report"]["failures"]
    assert failures[0] == {"stage": "build", "task": "build.gates", "state": "failed",
                           "reason": "build gates found 2 error(s); nothing is deployed"}
    assert {f["task"]: f["reason"] for f in failures[1:]} == {"beta.deploy": "not run: build.gates failed",
                                                              "prod.plan": "not run: build.gates failed"}
    assert doc["report"]["stages"]["build"]["reason"] == "build.gates: build gates found 2 error(s); nothing is deployed"
    assert "why: beta.deploy: not run: build.gates failed" in doc["text"]


def test_a_failure_without_a_verdict_points_at_the_log_and_no_bundle_reads_as_such():
    doc = write_report(None, "run-3", {"source.preflight": "failed"}, {}, {})
    assert doc["report"]["failures"][0]["reason"].startswith("failed without a verdict")
    assert "bundle None" not in doc["text"] and "before the source snapshot" in doc["text"]


def test_the_report_keeps_the_rollout_as_waves_with_the_halt_reason():
    from fleet_airflow.report import rollout_waves

    def result(name, status):
        return {"account_name": name, "account_id": name, "region": "us-east-1", "status": status}

    waves = rollout_waves({"halted": True, "not_started": ["p4"], "waves": [
        {"wave": 1, "failed_accounts": [], "tolerance": 0, "results": [result("p1", "created")], "rolled_back": []},
        {"wave": 2, "failed_accounts": ["p3"], "tolerance": 0,
         "results": [result("p2", "created"), result("p3", "failed")], "rolled_back": [result("p3", "rolled-back")]}]})
    assert [(w["wave"], w["outcome"], w["accounts"]) for w in waves["waves"]] == [
        (1, "succeeded", ["p1"]), (2, "halted", ["p2", "p3"])]
    assert waves["halt_reason"] == "wave 2: 1 failed account(s) (p3) > tolerance 0"
    assert waves["not_started"] == ["p4"]
