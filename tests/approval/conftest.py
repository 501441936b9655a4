"""The approval gate at the core and operator level against a real local AWS (no scheduler)."""

from __future__ import annotations

import shutil

import pytest

from fleet import approval, bundle
from fleet.aws import AwsContext

from tests.support import aws_connection
from tests.support.approval import BUCKET, make_keys


@pytest.fixture
def keys(tmp_path) -> dict[str, dict]:
    """A key pair per person, made per test (no key in the repository); mallory is no approver."""
    return make_keys(tmp_path / "keys", ("platform-lead", "security-lead", "mallory"))


@pytest.fixture
def approvers(keys) -> list[dict]:
    """approval.approvers as the bundle's config gives them to the gate: names, emails, public keys."""
    return [keys[n]["identity"] for n in ("platform-lead", "security-lead")]


def private_key(keys: dict, name: str):
    from fleet import sshkeys

    return sshkeys.load_private_key(keys[name]["path"])


@pytest.fixture
def sign_as(keys):
    """sign_as(name): the private key of ``name``, as `fleet approve --key` loads it."""
    return lambda name: private_key(keys, name)


@pytest.fixture
def aws(aws_server, monkeypatch):
    """An empty local AWS with the artifacts bucket and Airflow connections pointing at it.

    Reset, not a fresh account of the shared organization: the gate works in the management
    account under fixed names (the artifacts bucket, the approvals topic and table, one run id),
    as the pipeline does; the reset costs milliseconds and these tests need no organization. The
    next test that needs the organization finds it gone and seeds it again (tests/conftest.py)."""
    aws_server.reset()
    endpoint = aws_server.endpoint_url
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(endpoint))
    shutil.rmtree(bundle.work_dir(), ignore_errors=True)
    ctx = AwsContext.from_environment("us-east-1")
    ctx.client("s3").create_bucket(Bucket=BUCKET)
    return ctx


@pytest.fixture(params=["s3", "dynamodb"])
def store(request, aws):
    return approval.open_store(aws, {"store": request.param, "table": "fleet-approvals-test"}, BUCKET)
