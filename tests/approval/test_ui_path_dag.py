"""The UI approval path through the real DAG (dag.test): prod.ui_approval parks in awaiting_input,
an approver answers through the Airflow API's own handler (what the Required actions page calls),
the task returns the answer (unsigned: no key on a worker) and writes an audit copy, and
prod.approval, the one gate, judges the task's result and releases the rollout."""

from __future__ import annotations

import threading
import time

import pytest

from fleet import approval, source
from fleet.aws import AwsContext

from tests.support.dags import run_dag

pytestmark = pytest.mark.e2e


class UiUser:
    """The signed-in Airflow user the API handler asks for."""

    def __init__(self, name: str):
        self.name = name

    def get_id(self) -> str:
        return self.name

    def get_name(self) -> str:
        return self.name


class UiApprover(threading.Thread):
    def __init__(self, user: str, option: str = "Approve", reason: str = "reviewed in the UI"):
        super().__init__(daemon=True)
        self.user, self.option, self.reason = user, option, reason
        self.answered: str | None = None
        self.error: Exception | None = None  # the last failed look, shown if the run never got an answer
        self.stop = threading.Event()

    def run(self) -> None:
        from airflow.api_fastapi.core_api.datamodels.hitl import UpdateHITLDetailPayload
        from airflow.api_fastapi.core_api.routes.public.hitl import update_hitl_detail
        from airflow.models.taskinstance import TaskInstance
        from airflow.utils.session import create_session
        from airflow.utils.state import TaskInstanceState

        from airflow.api_fastapi.app import create_auth_manager

        # The handler asks the auth manager whether the user is one of the task's assigned users;
        # the API server initialises it, this process must do it itself.
        create_auth_manager()
        while not self.stop.is_set():
            try:
                with create_session() as session:
                    ti = session.query(TaskInstance).filter(
                        TaskInstance.task_id == "prod.ui_approval",
                        TaskInstance.state == TaskInstanceState.AWAITING_INPUT).first()
                    if ti is not None:
                        update_hitl_detail(
                            dag_id=ti.dag_id, dag_run_id=ti.run_id, task_id=ti.task_id,
                            update_hitl_detail_payload=UpdateHITLDetailPayload(
                                chosen_options=[self.option], params_input={"reason": self.reason}),
                            user=UiUser(self.user), session=session, map_index=-1)
                        self.answered = ti.run_id
                        return
            except Exception as exc:  # noqa: BLE001 - e.g. SQLite busy while the run writes: look again
                self.error = exc
            time.sleep(0.5)


def test_ui_approval_is_judged_by_the_gate_from_the_ui_tasks_result(fleet_env, fleet_dag):
    ui = UiApprover("security-lead")
    ui.start()
    try:
        state, tasks = run_dag(fleet_dag, conf={"approval_ui": True})
    finally:
        ui.stop.set()
    assert ui.answered, f"the UI task never asked (last error: {ui.error!r})"
    assert state == "success", tasks
    assert tasks["prod.ui_approval"] == "success" and tasks["prod.approval"] == "success"
    assert tasks["prod.rollout"] == "success" and tasks["prod.catalog_smoke_test"] == "success"
    store = approval.S3Store(AwsContext.from_environment("us-east-1"),
                             source.artifacts_bucket("123456789012", "us-east-1"))
    records = [store.get(k) for k in store.list(approval.decisions_prefix(ui.answered))]
    assert [(r["approver"], r["decision"], r["via"], r["reason"]) for r in records] == [
        ("security-lead", "approve", "airflow-ui", "reviewed in the UI")]
    assert "signature" not in records[0]  # the audit copy; the gate took the decision from the task's XCom
