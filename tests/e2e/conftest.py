"""End to end: the account_fleet_pipeline DAG run by Airflow (``dag.test``) against local AWS."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.support import aws_connection

REPO = Path(__file__).resolve().parents[2]
APPROVAL_KEY = "e2e-approval-key-0123456789abcdef"


@pytest.fixture
def fleet_env(seeded_fleet, aws_server, airflow_db, monkeypatch, tmp_path):
    """A freshly seeded organization and connections pointing at it; returns the endpoint."""
    endpoint = aws_server.endpoint_url
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(endpoint))
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_APPROVAL", json.dumps({"conn_type": "generic", "password": APPROVAL_KEY}))
    monkeypatch.setenv("FLEET_APPROVAL_KEY", APPROVAL_KEY)
    monkeypatch.setenv("FLEET_WORK_DIR", str(tmp_path / "bundles"))  # never another run's folder
    return endpoint


@pytest.fixture
def fleet_dag(airflow_db):
    # A fresh parse per test: dag.test(run_conf=...) leaves the conf in the DAG object's params.
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("account_fleet_pipeline")


class Approver(threading.Thread):
    """Plays the approver outside Airflow: waits for the request, then runs `fleet approve`."""

    def __init__(self, approve: bool = True, approver: str = "platform-lead", reason: str = "e2e"):
        super().__init__(daemon=True)
        self.approve, self.approver, self.reason = approve, approver, reason
        self.run_id: str | None = None
        self.stop = threading.Event()

    def run(self) -> None:
        fleet = [sys.executable, "-m", "fleet.cli"]
        while not self.stop.is_set():
            out = subprocess.run([*fleet, "approvals", "--format", "json"], capture_output=True, text=True)
            pending = json.loads(out.stdout) if out.returncode == 0 and out.stdout.strip() else []
            if pending:
                self.run_id = pending[0]["run_id"]
                cmd = [*fleet, "approve", self.run_id, "--approver", self.approver, "--reason", self.reason]
                if not self.approve:
                    cmd.append("--reject")
                subprocess.run(cmd, check=True, capture_output=True)
                return
            time.sleep(0.5)


def run_dag(dag, conf: dict | None = None, approver: Approver | None = None):
    """Run the DAG to its end; returns (dag run state, {task_id: state})."""
    if approver:
        approver.start()
    try:
        dr = dag.test(run_conf=conf)
    finally:
        if approver:
            approver.stop.set()
    states = {ti.task_id: str(ti.state) for ti in dr.get_task_instances()}
    return str(dr.state), states
