"""Fixtures for the vending suite: connections to local AWS, fresh DAG parses, a run helper that
keeps mapped task instances apart, and a way to switch local AWS's behaviour profile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support import aws_connection

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def vending_env(seeded_fleet, aws_server, airflow_db, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    return seeded_fleet


@pytest.fixture
def vending_dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(str(REPO / "dags"))  # a fresh parse per test: dag.test(run_conf=...) keeps the conf
    assert not bag.import_errors, bag.import_errors
    return bag.get_dag("account_vending")


@pytest.fixture
def fleet_repo(tmp_path):
    """A copy of the sample fleet repository whose fleet.yaml a test may change: edit(fn) applies fn
    to the parsed YAML and writes it back."""
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)

    class Repo:
        path = repo

        @staticmethod
        def edit(fn) -> None:
            doc = yaml.safe_load((repo / "fleet.yaml").read_text())
            fn(doc)
            (repo / "fleet.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    return Repo


def run_vending(dag, conf: dict):
    """Run the DAG to its end; returns (run state, {(task_id, map_index): ti}) and the run itself."""
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

