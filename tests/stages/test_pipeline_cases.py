"""The fleet pipeline's failure and dry-run cases through the core stages and the DAG's own task
functions, without a DAG run (tests/e2e keeps the happy path as one).

Each case gets a freshly seeded organization: the stages deploy to the accounts the sample
fleet.yaml names, and the assertions say which of them hold a stack. What a run would decide from
Airflow's wiring (a failed task stopping the tasks after it, a dry run skipping the deployments)
is read from the parsed DAG and from the task functions' own verdicts.
"""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from fleet import approval, cli
from fleet.bundle import Bundle
from fleet.config import load_config
from fleet.org import read_org
from fleet.stages import prod as prod_stage
from fleet_airflow.hooks import context_from_settings
from fleet_airflow.report import write_report
from fleet_airflow.sensors import ExternalApprovalSensor

from tests.support import REPO
from tests.support.approval import context, key_path
from tests.support.bundles import commit, fleet_repo, git
from tests.support.pipeline import (RUN_ID, PLANTED_TAIL, FakeTi, only_after_success, repo_with_secret,
                                    source_outputs, task_function)

FLEET = load_config(REPO / "include" / "fleet.yaml")
STACK = "fleet-security-baseline"
SAMPLE = REPO / "include"
# Every task that changes a member account or the catalog.
DEPLOYING = ("beta.deploy", "gamma.deploy", "prod.rollout", "prod.service_catalog", "prod.catalog_smoke_test")
PARAMS = {"dry_run": False, "rerun_failed_only": False, "targets": []}


@pytest.fixture(scope="module")
def dag(airflow_db):
    from tests.support.dags import parse_dag

    return parse_dag("account_fleet_pipeline")


@pytest.fixture
def ctx(fleet_env, fresh_fleet):
    return fresh_fleet


def stack(ctx, account_id: str) -> dict | None:
    """The baseline stack as deployed; a planned-only stack (REVIEW_IN_PROGRESS) counts as none."""
    cfn = ctx.client("cloudformation", account_id)
    try:
        found = cfn.describe_stacks(StackName=STACK)["Stacks"][0]
    except cfn.exceptions.ClientError:
        return None
    return None if found["StackStatus"] == "REVIEW_IN_PROGRESS" else found


def ids(ctx) -> dict[str, str]:
    return {a.name: a.id for a in read_org(ctx, with_tags=False).accounts}


def prod_names() -> list[str]:
    return [a.name for a in FLEET.accounts_under(["Prod"])]


def planned_names() -> list[str]:
    """Every account prod deploys to: the Prod OU, and shared-network (the network baseline's Infrastructure)."""
    return [*prod_names(), "shared-network"]


def s3_json(ctx, bucket: str, key: str) -> dict:
    return json.loads(ctx.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def test_planted_secret_fails_the_build_and_nothing_after_it_runs(ctx, dag, tmp_path):
    repo = repo_with_secret(tmp_path)
    settings, bundle = source_outputs(ctx, repo)
    with pytest.raises(AirflowFailException, match="build gates found .* error"):
        task_function(dag, "build.gates")(settings, bundle, params={**PARAMS, "fleet_repo": str(repo)})
    findings = s3_json(ctx, settings["bucket"], f"bundles/{bundle['digest']}/findings.json")
    assert any(f["gate"] == "secrets" and f["file"] == "templates/notes.txt" for f in findings["findings"])
    assert PLANTED_TAIL not in json.dumps(findings)
    for task_id in DEPLOYING:
        only_after_success(dag, "build.gates", task_id)
    accounts = ids(ctx)
    assert all(stack(ctx, accounts[a.name]) is None for a in FLEET.accounts)


def test_secret_in_history_fails_the_build_and_fleet_cleanse_purges_the_remote(ctx, dag, tmp_path, capsys):
    repo = repo_with_secret(tmp_path)
    (repo / "templates" / "notes.txt").unlink()  # gone from the tree, still in history
    commit(repo, "remove the key")
    remote = tmp_path / "remote.git"
    git(tmp_path, "clone", "-q", "--bare", str(repo), str(remote))
    git(repo, "remote", "add", "origin", str(remote))
    settings, bundle = source_outputs(ctx, repo)
    assert "cleanse_history" not in dag.params  # no trigger can rewrite history

    with pytest.raises(AirflowFailException, match="build gates found"):
        task_function(dag, "build.gates")(settings, bundle, params={**PARAMS, "fleet_repo": str(repo)})
    doc = s3_json(ctx, settings["bucket"], f"bundles/{bundle['digest']}/findings.json")
    history = [f for f in doc["findings"] if f["gate"] == "secrets" and f["commit"]]
    assert history and history[0]["file"] == "templates/notes.txt"
    assert "cleansed" not in doc and "fleet cleanse" in doc["cleanse"]
    assert PLANTED_TAIL in git(remote, "log", "--all", "-p"), "the run itself rewrote nothing"

    plan = tmp_path / "purge-plan.json"
    plan.write_text(json.dumps(s3_json(ctx, settings["bucket"], f"bundles/{bundle['digest']}/purge-plan.json")))
    assert cli.main(["cleanse", "--remote", str(remote), "--plan", str(plan)]) == 0  # proven, not pushed
    assert PLANTED_TAIL in git(remote, "log", "--all", "-p")
    assert cli.main(["cleanse", "--remote", str(remote), "--plan", str(plan), "--push"]) == 0
    out = json.loads(capsys.readouterr().out.split("\n}\n")[-2] + "\n}")
    assert out["pushed"] and out["remaining_findings"] == 0
    log = git(remote, "log", "--all", "-p")  # the remote's history no longer holds the key on any ref
    assert PLANTED_TAIL not in log and "notes.txt" in log


def test_dry_run_makes_the_plan_and_deploys_nothing(ctx, dag):
    settings, bundle = source_outputs(ctx, SAMPLE)
    dry = {**PARAMS, "dry_run": True}
    for env in ("beta", "gamma"):
        with pytest.raises(AirflowSkipException, match="dry run"):
            task_function(dag, f"{env}.deploy")(settings, bundle, params=dry)
    # The plan runs after the skipped environments ("none failed"), and plans every prod account.
    assert dag.get_task("prod.plan").trigger_rule == "none_failed"
    pctx = context_from_settings("aws_default", settings)
    plan = prod_stage.plan(pctx, Bundle.from_dict(bundle).open(pctx), run_id=RUN_ID)
    assert plan["summary"].startswith("9 accounts: 9 change") and not plan["empty"]
    assert {r["account_name"] for r in plan["accounts"]} == set(planned_names())
    # Per baseline: a VPC to add everywhere; the security stacks wait for their account's VPC id.
    assert all(r["adds"] == 1 and r["action"] == "add" for r in plan["accounts"] if r["baseline"] == "network")
    assert all(r["status"] == "pending" and r["action"] == "add" for r in plan["accounts"]
               if r["baseline"] == "security-baseline")
    stored = s3_json(ctx, settings["bucket"], plan["location"].split(f"{settings['bucket']}/", 1)[1])
    assert stored["summary"] == plan["summary"]
    # Then nothing asks for approval, and the rollout (and so the catalog after it) does not deploy.
    assert task_function(dag, "prod.gate")(plan, params=dry) == []
    with pytest.raises(AirflowSkipException, match="nothing is deployed"):
        task_function(dag, "prod.rollout")(settings, bundle, plan["plan_digest"], params=dry, run_id=RUN_ID,
                                           ti=FakeTi({"prod.auto_approve": {"decision": "approve"}}))
    for task_id in ("prod.service_catalog", "prod.catalog_smoke_test"):
        assert dag.get_task(task_id).trigger_rule == "all_success"
        assert "prod.rollout" in {t.task_id for t in dag.get_task(task_id).get_flat_relatives(upstream=True)}
    # (A plan of a new stack is a CREATE change set, which AWS holds in an empty REVIEW_IN_PROGRESS stack.)
    accounts = ids(ctx)
    assert all(stack(ctx, accounts[a.name]) is None for a in FLEET.accounts)


def test_a_rejected_approval_fails_the_gate_and_nothing_is_deployed_to_prod(ctx, dag, tmp_path):
    settings, bundle = source_outputs(ctx, fleet_repo(tmp_path))  # its approvers' keys: the test's own
    pctx = context_from_settings("aws_default", settings)
    plan = prod_stage.plan(pctx, Bundle.from_dict(bundle).open(pctx), run_id=RUN_ID)
    assert task_function(dag, "prod.gate")(plan, params=PARAMS) == ["prod.approval"]
    wired = dag.get_task("prod.approval")
    gate = ExternalApprovalSensor(
        task_id="approval", bucket=settings["bucket"], region_name=settings["region"],
        pipeline_role=settings["pipeline_role"], bundle_digest=bundle["digest"], plan_digest=plan["plan_digest"],
        summary=plan["summary"], approvers=settings["approvers"], timeout_hours=settings["timeout_hours"],
        aws_conn_id=wired.aws_conn_id, authors=bundle.get("authors", ()), poll_interval=0.05)
    with pytest.raises(TaskDeferred):
        gate.execute(context(RUN_ID))  # the request is published; the approver answers with their own key
    assert cli.main(["approve", RUN_ID, "--approver", "platform-lead", "--key", key_path("platform-lead"),
                     "--reason", "change freeze", "--reject"]) == 0
    with pytest.raises(AirflowFailException, match="rejected: reject by platform-lead .*change freeze"):
        gate.execute_complete(context(RUN_ID), {"status": "ready", "value": 1})
    store = approval.S3Store(pctx, settings["bucket"])
    assert [store.get(k)["decision"] for k in store.list(approval.decisions_prefix(RUN_ID))] == ["reject"]

    # A failed gate stops the rollout and the catalog; and the rollout itself deploys nothing
    # without a decision of this run.
    for task_id in ("prod.rollout", "prod.service_catalog", "prod.catalog_smoke_test"):
        only_after_success(dag, "prod.approval", task_id)
    with pytest.raises(AirflowSkipException, match="no approval decision"):
        task_function(dag, "prod.rollout")(settings, bundle, plan["plan_digest"], params=PARAMS, run_id=RUN_ID,
                                           ti=FakeTi())
    accounts = ids(ctx)
    assert all(stack(ctx, accounts[name]) is None for name in prod_names())
    sc = ctx.client("servicecatalog")
    assert [v for v in sc.search_products_as_admin()["ProductViewDetails"]
            if v["ProductViewSummary"]["Owner"] != "AWS Control Tower"] == []  # only the Account Factory


def test_a_failing_first_wave_halts_the_rollout_and_the_report_names_every_account(ctx, dag):
    # A real CloudFormation failure: a role of the same name already exists in the canary prod account.
    accounts = ids(ctx)
    ctx.client("iam", accounts["app-prod-01"]).create_role(RoleName="fleet-audit", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))
    settings, bundle = source_outputs(ctx, SAMPLE)
    # The rollout deploys exactly the approved plan, so the plan is made first, as prod.plan does.
    pctx = context_from_settings("aws_default", settings)
    plan = prod_stage.plan(pctx, Bundle.from_dict(bundle).open(pctx), run_id=RUN_ID)
    decision = {"decision": "approve", "approver": "platform-lead", "reason": "e2e", "plan_digest": plan["plan_digest"]}
    ti = FakeTi({"prod.approval": decision})
    with pytest.raises(AirflowFailException, match="rollout halted: failed app-prod-01"):
        task_function(dag, "prod.rollout")(settings, bundle, plan["plan_digest"], params=PARAMS, run_id=RUN_ID, ti=ti)
    rollout = ti.pushed["return_value"]  # what the run report reads of a halted rollout
    assert rollout["halted"]
    assert all(stack(ctx, accounts[n]) is None for n in prod_names()[1:])  # later waves untouched
    only_after_success(dag, "prod.rollout", "prod.service_catalog")

    # The run report as run_report writes it from the states and XComs of such a run.
    states = {"source.preflight": "success", "source.snapshot": "success", "build.gates": "success",
              "prod.plan": "success", "prod.gate": "success", "prod.approval": "success",
              "prod.auto_approve": "skipped", "prod.rollout": "failed", "prod.service_catalog": "upstream_failed",
              "prod.catalog_smoke_test": "upstream_failed"}
    xcoms = {"source.preflight": settings, "source.snapshot": bundle, "build.gates": {"errors": 0, "warnings": 1},
             "prod.approval": decision, "prod.rollout": rollout}
    written = write_report(context_from_settings("aws_default", settings), RUN_ID, states, xcoms)
    assert written["status"] == "failed"
    key = next(o["Key"] for o in ctx.client("s3").list_objects_v2(Bucket=settings["bucket"], Prefix="reports/")["Contents"]
               if o["Key"].endswith("report.json"))
    assert written["location"].endswith(key)
    doc = s3_json(ctx, settings["bucket"], key)
    prod = {row["account"]: row for row in doc["stages"]["prod"]["accounts"]}
    assert set(prod) == set(planned_names())
    assert prod["app-prod-01"]["status"] == "failed" and "fleet-audit" in prod["app-prod-01"]["detail"]
    assert {prod[n]["status"] for n in planned_names()[1:]} == {"not started"}
