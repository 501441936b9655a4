"""The approval gate at the core and operator level against a real local AWS (no scheduler)."""

from __future__ import annotations

import json
import secrets
import shutil

import pytest

from fleet import approval, bundle
from fleet.aws import AwsContext

from tests.support import aws_connection
from tests.support.approval import BUCKET


@pytest.fixture
def signing_key() -> bytes:
    return secrets.token_hex(24).encode()  # made per test: no key literal in the repository


@pytest.fixture
def aws(aws_server, monkeypatch, signing_key):
    """An empty local AWS with the artifacts bucket and Airflow connections pointing at it.

    Reset, not a fresh account of the shared organization: the gate works in the management
    account under fixed names (the artifacts bucket, the approvals topic and table, one run id),
    as the pipeline does; the reset costs milliseconds and these tests need no organization. The
    next test that needs the organization finds it gone and seeds it again (tests/conftest.py)."""
    aws_server.reset()
    endpoint = aws_server.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(endpoint))
    monkeypatch.setenv("AIRFLOW_CONN_FLEET_APPROVAL", json.dumps({"conn_type": "generic",
                                                                  "password": signing_key.decode()}))
    shutil.rmtree(bundle.work_dir(), ignore_errors=True)
    ctx = AwsContext.from_environment("us-east-1")
    ctx.client("s3").create_bucket(Bucket=BUCKET)
    return ctx


@pytest.fixture(params=["s3", "dynamodb"])
def store(request, aws):
    return approval.open_store(aws, {"store": request.param, "table": "fleet-approvals-test"}, BUCKET)
