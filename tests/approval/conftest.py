"""The approval gate at the core and operator level against a real local AWS (no scheduler)."""

from __future__ import annotations

import json
import os
import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fleet import approval, bundle, source
from fleet.aws import AwsContext
from localaws.server import LocalAws

REPO = Path(__file__).resolve().parents[2]
BUCKET = source.artifacts_bucket("123456789012", "us-east-1")


@pytest.fixture(scope="session")
def aws_server():
    with LocalAws() as aws:
        yield aws


@pytest.fixture
def signing_key() -> bytes:
    return secrets.token_hex(24).encode()  # made per test: no key literal in the repository


@pytest.fixture
def aws(aws_server, monkeypatch, signing_key):
    """A fresh local AWS with the artifacts bucket and Airflow connections pointing at it."""
    aws_server.reset()
    endpoint = aws_server.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps({
        "conn_type": "aws", "login": os.environ["AWS_ACCESS_KEY_ID"], "password": os.environ["AWS_SECRET_ACCESS_KEY"],
        "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}))
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_APPROVAL", json.dumps({"conn_type": "generic",
                                                                  "password": signing_key.decode()}))
    shutil.rmtree(bundle.work_dir(), ignore_errors=True)
    ctx = AwsContext.from_environment("us-east-1")
    ctx.client("s3").create_bucket(Bucket=BUCKET)
    return ctx


@pytest.fixture(params=["s3", "dynamodb"])
def store(request, aws):
    return approval.open_store(aws, {"store": request.param, "table": "fleet-approvals-test"}, BUCKET)


@dataclass
class FakeDagRun:
    triggering_user_name: str | None = "alice"
    conf: dict = field(default_factory=dict)
    dag_id: str = "account_fleet_pipeline"


def context(run_id: str = "manual__2026-11-28T10:00:00+00:00", triggered_by: str | None = "alice",
            conf: dict | None = None) -> dict:
    return {"run_id": run_id, "dag_run": FakeDagRun(triggered_by, conf or {}), "params": {}}
