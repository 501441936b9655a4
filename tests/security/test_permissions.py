"""Least privilege for the pipeline itself: a whole run of the fleet pipeline on local AWS with every
AWS call recorded, each compared with the generated policy (management account) and the bootstrap
role (member accounts). A call the code makes that the documents do not allow fails, named."""

from __future__ import annotations

import json

import pytest

from fleet import permissions

from tests.support.awscalls import CallRecorder
from tests.support.bundles import fleet_repo
from tests.support.dags import Approver, run_dag

pytestmark = pytest.mark.e2e


def test_the_generated_documents_are_current(tmp_path):
    assert permissions.main(["--check"]) == 0, "run: python -m fleet.permissions --write"
    policy = json.loads((permissions.OUT / permissions.POLICY_FILE).read_text())
    template = json.loads((permissions.OUT / permissions.TEMPLATE_FILE).read_text())
    role = template["Resources"]["FleetDeploymentRole"]["Properties"]
    trust = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"AWS": {"Ref": "PipelinePrincipalArn"}},
                      "Action": "sts:AssumeRole"}]  # the pipeline's principal, nobody else
    for doc in (policy["Statement"], role["Policies"][0]["PolicyDocument"]["Statement"]):
        assert all("*" not in a for s in doc for a in s["Action"])  # actions named, never wildcards
        for statement in doc:  # acting on roles only on named roles: "*" would be privilege escalation
            if set(statement["Action"]) & {"iam:PutRolePolicy", "iam:CreateRole", "sts:AssumeRole"}:
                assert statement["Resource"] != "*" and "*" not in json.dumps(statement["Resource"]).split(
                    ":role/")[-1], statement


def test_every_call_of_a_pipeline_run_and_a_drift_sweep_is_allowed_by_the_generated_documents(fleet_env, fleet_dag, tmp_path,
                                                                              monkeypatch):
    from tests.support.dags import parse_dag

    recorder = CallRecorder(monkeypatch)
    repo = fleet_repo(tmp_path)
    state, tasks = run_dag(fleet_dag, conf={"fleet_repo": str(repo), "approval_ui": False},
                           approver=Approver())  # decided with `fleet approve`
    assert state == "success", tasks
    # Then the drift sweep of what it deployed, as the same principal (fleet_drift's calls).
    swept = parse_dag("fleet_drift").test(run_conf={"fleet_repo": str(repo)})
    assert str(swept.state) == "success", {ti.task_id: str(ti.state) for ti in swept.get_task_instances()}
    seen = {"management": recorder.of("management"), "member": recorder.of("member")}
    assert seen["management"] and seen["member"], seen  # the recorder saw the run
    assert "cloudformation:DetectStackDrift" in seen["member"], seen["member"]  # and the sweep
    allowed = {"management": set(permissions.actions(permissions.MANAGEMENT_CALLS)),
               "member": set(permissions.actions(permissions.MEMBER_CALLS))}
    missing = {kind: sorted(c for c in calls if not set(permissions.iam_actions(c)) <= allowed[kind])
               for kind, calls in seen.items()}
    assert missing == {"management": [], "member": []}, (
        f"calls the pipeline made that its documents do not allow (add them to fleet/permissions.py, then "
        f"python -m fleet.permissions --write): {missing}")


def test_every_call_of_an_account_vending_run_is_allowed_by_the_pipeline_policy(fleet_env, airflow_db, monkeypatch):
    """account_vending runs as the same pipeline principal: CreateAccount, the readiness checks,
    OU, tags, SCPs, the security services and the baseline in the new account."""
    from tests.support.dags import parse_dag, run_vending

    dag = parse_dag("account_vending")
    recorder = CallRecorder(monkeypatch)
    account = {"name": "perm-prod-01", "email": "perm-prod-01@example.com", "ou": "Prod",
               "tags": {"team": "t", "vpc_cidr": "10.199.0.0/16"}}
    dr, tis = run_vending(dag, {"accounts": [account], "poll_seconds": 5})
    assert str(dr.state) == "success", {k: str(ti.state) for k, ti in tis.items()}
    allowed = {"management": set(permissions.actions(permissions.MANAGEMENT_CALLS)),
               "member": set(permissions.actions(permissions.MEMBER_CALLS))}
    missing = {kind: sorted(c for c in recorder.of(kind) if not set(permissions.iam_actions(c)) <= allowed[kind])
               for kind in allowed}
    assert recorder.of("management") and recorder.of("member")
    assert missing == {"management": [], "member": []}, (
        f"calls account_vending made that the documents do not allow (add them to fleet/permissions.py, then "
        f"python -m fleet.permissions --write): {missing}")
