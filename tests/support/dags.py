"""Running a DAG to its end with ``dag.test`` (no scheduler) and reading back what it left, plus
the approver that answers the fleet pipeline's approval gate meanwhile."""

from __future__ import annotations

import faulthandler
import threading



class Approver(threading.Thread):
    """Plays the approver outside Airflow: waits for the run's approval request, then answers it
    with `fleet approve` and the approver's own key (tests.support.approval.sample_keys: the runs
    use copies of the sample fleet with those public keys rendered in). In this process: the request is looked up in the approval store (what
    `fleet approvals` lists) and the CLI is called through its entry function, so no Python
    process is started per poll.

    It answers ``think_seconds`` after the request appears, as a person would: prod.approval
    counts the decisions already present just after it publishes the request and then waits for
    a newer one, so a decision landing within that instant is never noticed (the run would wait
    for the gate's timeout). The old approver, a new Python process per poll, was always slower."""

    def __init__(self, approve: bool = True, approver: str = "platform-lead", reason: str = "e2e",
                 poll_seconds: float = 0.2, think_seconds: float = 3.0):
        super().__init__(daemon=True, name="approver")
        self.approve, self.approver, self.reason = approve, approver, reason
        self.poll_seconds, self.think_seconds = poll_seconds, think_seconds
        self.run_id: str | None = None
        self.error: BaseException | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        try:
            self._answer_first_request()
        except BaseException as exc:  # noqa: BLE001 (reported by run_dag, in the test's own thread)
            self.error = exc

    def _answer_first_request(self) -> None:
        from fleet import cli

        store = _approval_store()
        while not self.stop.is_set():
            pending = _pending_run_ids(store)
            if pending:
                self.run_id = pending[0]
                if self.stop.wait(self.think_seconds):
                    return
                from tests.support.approval import key_path

                argv = ["approve", self.run_id, "--approver", self.approver, "--key", key_path(self.approver),
                        "--reason", self.reason]
                if not self.approve:
                    argv.append("--reject")
                code = cli.main(argv)
                if code != 0:
                    raise AssertionError(f"fleet {' '.join(argv)} exited {code}")
                return
            self.stop.wait(self.poll_seconds)


def _approval_store():
    """The store `fleet approvals` reads, built the same way from the sample config."""
    from fleet import approval, source
    from fleet.aws import AwsContext
    from fleet.config import load_config

    from tests.support import REPO

    fleet = load_config(REPO / "include" / "fleet.yaml")
    org = fleet.organization
    ctx = AwsContext.from_environment(org.home_region, org.pipeline_role)
    return approval.open_store(ctx, fleet.approval, source.artifacts_bucket(org.management_account, org.home_region))


def _pending_run_ids(store) -> list[str]:
    """Runs with an approval request and no decision yet (`fleet approvals`' list)."""
    from fleet import approval

    pending = []
    for key in store.list("approvals/"):
        if key.endswith("/request.json"):
            request = store.get(key)
            if request and not store.list(approval.decisions_prefix(request["run_id"])):
                pending.append(request["run_id"])
    return pending


def parse_dag(dag_id: str):
    """The DAG freshly parsed from dags/: dag.test(run_conf=...) leaves the conf in the DAG
    object's params, so each run gets its own parse."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.support import REPO

    bag = DagBag(str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag(dag_id)


RUN_DEADLINE_SECONDS = 600


def run_dag(dag, conf: dict | None = None, approver: Approver | None = None):
    """Run the DAG to its end; returns (dag run state, {task_id: state})."""
    if approver:
        approver.start()
    # A run waiting on a decision that never comes would wait for the approval timeout (hours): dump
    # every thread's stack and end the worker instead, so the suite fails with where it hung.
    faulthandler.dump_traceback_later(RUN_DEADLINE_SECONDS, exit=True)
    try:
        dr = dag.test(run_conf=conf)
    finally:
        faulthandler.cancel_dump_traceback_later()
        if approver:
            approver.stop.set()
            approver.join(timeout=30)
    if approver and approver.error is not None:
        raise AssertionError(f"the approver failed: {approver.error!r}") from approver.error
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    return str(dr.state), states


def run_vending(dag, conf: dict):
    """Run the DAG to its end; returns the run and {(task_id, map_index): ti}."""
    dr = dag.test(run_conf=conf)
    tis = {(ti.task_id, ti.map_index): ti for ti in dr.get_task_instances()}
    return dr, tis


def xcom(dr, task_id: str, map_index: int = -1):
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=dr.dag_id, run_id=dr.run_id, task_id=task_id,
                                                 map_index=map_index, key="return_value").one_or_none()
        return None if row is None else XComModel.deserialize_value(row)
