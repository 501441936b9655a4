"""The fleet pipeline's tasks without a DAG run: the Source stage's outputs made through the core,
and a TaskFlow task's own function called with them, as Airflow would call it.

A test calls the function a task wraps (``task_function``) with the XComs it would receive and a
``FakeTi`` for what it pulls and pushes itself; the verdicts (AirflowFailException,
AirflowSkipException) are the ones a run would record as the task's state. Which task runs after
which, and under which trigger rule, is read from the parsed DAG (``only_after_success``).
"""

from __future__ import annotations

import shutil
from pathlib import Path

from fleet.aws import AwsContext
from fleet.stages import source as source_stage

from tests.support import REPO
from tests.support.bundles import commit, git

RUN_ID = "manual__2026-11-30T10:00:00+00:00"
# Trigger rules under which a failed (or upstream-failed) upstream task makes the task upstream_failed.
FAILURE_STOPS = {"all_success", "none_failed", "none_failed_min_one_success"}
PLANTED_TAIL = "QYLPMN5HHHFPZAM2"  # the planted key is split so this file is not itself a finding


def source_outputs(ctx: AwsContext, repo: Path, targets: list[str] | None = None) -> tuple[dict, dict]:
    """(settings, bundle): what source.preflight and source.snapshot return, with the artifacts
    bucket that source.artifacts_bucket creates in between."""
    settings = source_stage.preflight(ctx, source_stage.read_config(repo), targets or [])
    s3 = ctx.client("s3")
    try:
        s3.create_bucket(Bucket=settings["bucket"])
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    return settings, source_stage.snapshot_and_upload(ctx, repo).to_dict()


def task_function(dag, task_id: str):
    """The plain function a TaskFlow task of ``dag`` wraps."""
    return dag.get_task(task_id).python_callable


class FakeTi:
    """The task instance a task function reads XComs from (``xcoms``: task id -> value) and pushes to."""

    try_number = 1
    dag_id = "account_fleet_pipeline"

    def __init__(self, xcoms: dict | None = None):
        self.xcoms = xcoms or {}
        self.pushed: dict[str, object] = {}

    def xcom_pull(self, task_ids: str, key: str = "return_value"):
        return self.xcoms.get(task_ids)

    def xcom_push(self, key: str, value) -> None:
        self.pushed[key] = value


def only_after_success(dag, upstream_id: str, task_id: str) -> None:
    """Assert ``task_id`` runs after ``upstream_id`` and only if it succeeded: every task on the way
    (``task_id`` included) has a trigger rule that turns a failed upstream into upstream_failed."""
    upstream = dag.get_task(upstream_id)
    task = dag.get_task(task_id)
    between = {t.task_id for t in upstream.get_flat_relatives(upstream=False)} & (
        {t.task_id for t in task.get_flat_relatives(upstream=True)} | {task_id})
    assert task_id in between, f"{task_id} does not run after {upstream_id}"
    rules = {t: getattr(r := dag.get_task(t).trigger_rule, "value", r) for t in between}
    assert all(r in FAILURE_STOPS for r in rules.values()), rules


def repo_with_secret(tmp_path: Path) -> Path:
    """A git copy of the sample fleet with an AWS access key planted in templates/notes.txt."""
    repo = tmp_path / "fleet-repo"
    shutil.copytree(REPO / "include", repo)
    (repo / "templates" / "notes.txt").write_text(f"aws_access_key_id = AKIA{PLANTED_TAIL}\n")
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "fleet")
    return repo
