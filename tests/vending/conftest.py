"""Fixtures for the vending suite: connections to local AWS, fresh DAG parses, and a copy of the
sample fleet repository to edit."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.support import aws_connection

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def vending_env(fresh_fleet, aws_server, airflow_db, monkeypatch):
    """A freshly seeded organization: the vending runs create accounts by fixed names and emails
    and assert on the organization's whole account list."""
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(aws_server.endpoint_url))
    return fresh_fleet


@pytest.fixture
def vending_dag(airflow_db):
    from tests.support.dags import parse_dag

    return parse_dag("account_vending")


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
