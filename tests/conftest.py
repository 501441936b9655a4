"""Settings that must exist before anything imports Airflow or boto3, and the fixtures every suite
shares: one local AWS server, the sample organization seeded once, fresh member accounts.

Airflow reads its configuration once, at first import, so the AIRFLOW_HOME (a throwaway SQLite
metadata DB) is set here, at collection time. Under pytest-xdist each worker is its own process
with its own Airflow home, temp folder and local AWS: nothing on disk or in moto is shared
between workers, so tests can be spread over them freely.
"""

from __future__ import annotations

import itertools
import os
import tempfile
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SAMPLE_CONFIG = REPO / "include" / "fleet.yaml"

# One base folder per `pytest` invocation, handed to the xdist workers through the environment
# (they start after this module is loaded in the controller); each worker takes a subfolder.
# Once per process even if this module is imported again under another name: a second
# AIRFLOW_HOME would send subprocesses (airflow db migrate) to a database the in-process Airflow
# never sees.
_base = Path(os.environ.get("FLEET_TEST_BASE") or tempfile.mkdtemp(prefix="fleet-tests-"))
os.environ["FLEET_TEST_BASE"] = str(_base)
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
_worker_dir = _base / WORKER
_home = _worker_dir / "airflow"
_tmp = _worker_dir / "tmp"
_home.mkdir(parents=True, exist_ok=True)
_tmp.mkdir(parents=True, exist_ok=True)
# The core caches bundles and git exports under the temp folder by digest and commit; two workers
# unpacking the same commit at once would race, and a test clearing its cache would clear the
# other worker's. A temp folder per worker (for this process and the subprocesses it starts).
tempfile.tempdir = str(_tmp)

os.environ.update({
    "AIRFLOW_HOME": str(_home),
    "TMPDIR": str(_tmp),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Dummy credentials: a test that forgets to point a client at local AWS must fail, not reach AWS.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # Local AWS makes an account ready in a second: this rig's operator lowers the vending poll floor
    # (5 s in a deployment; tests/security/test_vending_params.py checks it without this).
    "FLEET_MIN_POLL_SECONDS": "0.1",
})
os.environ.pop("AWS_PROFILE", None)


import pytest  # noqa: E402


# -- local AWS --------------------------------------------------------------------------------------
# moto keeps its state in module-level backends, so every LocalAws in one process shares one state
# anyway: one server per worker, for every suite of the product (tests/localaws has its own, on
# the same state: it only ever adds fresh member accounts, or resets before seeding).
@pytest.fixture(scope="session")
def aws_server():
    from localaws.server import LocalAws

    with LocalAws() as server:
        yield server


class SeededOrg:
    """The sample organization, seeded into this worker's local AWS once and re-seeded only when
    someone reset local AWS since (a reset gives the organization a new id)."""

    def __init__(self, server):
        self.server = server
        self.org_id: str | None = None
        self.accounts: dict[str, str] = {}
        self.seeds = 0

    def _current_org_id(self) -> str | None:
        from localaws.clients import client

        org = client("organizations", self.server.endpoint_url)
        try:
            return org.describe_organization()["Organization"]["Id"]
        except org.exceptions.AWSOrganizationsNotInUseException:
            return None

    def ensure(self) -> dict[str, str]:
        current = self._current_org_id()
        if current is None or current != self.org_id:
            self.accounts = self.server.seed(SAMPLE_CONFIG)
            self.org_id = self._current_org_id()
            self.seeds += 1
        return self.accounts

    def fresh(self) -> dict[str, str]:
        """Forget everything, then seed: for the tests that need the organization as seeded."""
        self.server.reset()
        self.org_id = None
        return self.ensure()


@pytest.fixture(scope="session")
def seeded_org(aws_server) -> SeededOrg:
    return SeededOrg(aws_server)


def _context(aws_server, monkeypatch):
    from fleet.aws import AwsContext

    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint_url)
    return AwsContext.from_environment("us-east-1")


@pytest.fixture
def seeded_fleet(seeded_org, aws_server, monkeypatch):
    """The sample organization, shared by every test of this worker; returns an AwsContext on its
    management account. Tests using it must not change what other tests see: they write into
    resources of their own (``fresh_account``, unique stack, bucket and table names)."""
    seeded_org.ensure()
    return _context(aws_server, monkeypatch)


@pytest.fixture
def fresh_fleet(seeded_org, aws_server, monkeypatch):
    """A freshly reset and seeded organization; returns an AwsContext on its management account.

    Only for tests that need the world exactly as seeded: the pipeline's own runs (they deploy to
    the accounts named in the sample fleet.yaml, and assert which stacks exist, which accounts are
    untouched and how many catalog versions there are), and tests that count the organization's
    accounts or create accounts by fixed names. Everything else uses ``seeded_fleet``."""
    seeded_org.fresh()
    return _context(aws_server, monkeypatch)


_account_numbers = itertools.count()


@pytest.fixture
def fresh_account(seeded_fleet, seeded_org):
    """fresh_account(ou="Beta") -> (account id, name): a new member account of the seeded
    organization, in OU ``ou`` (None: the root), named for this test only."""
    from localaws.clients import client

    org = client("organizations", seeded_org.server.endpoint_url)

    def make(ou: str | None = None) -> tuple[str, str]:
        name = f"t{WORKER}-{next(_account_numbers)}-{uuid.uuid4().hex[:6]}"
        status = org.create_account(AccountName=name, Email=f"{name}@example.com")["CreateAccountStatus"]
        for _ in range(50):  # a behaviour profile may make creation take a few polls
            if status["State"] != "IN_PROGRESS":
                break
            time.sleep(0.1)
            status = org.describe_create_account_status(CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
        if status["State"] != "SUCCEEDED":
            raise AssertionError(f"CreateAccount {name} ended {status['State']}: {status.get('FailureReason')}")
        account_id = status["AccountId"]
        if ou is not None:
            ou_id = _ou_id(org, ou)
            root = org.list_roots()["Roots"][0]["Id"]
            org.move_account(AccountId=account_id, SourceParentId=root, DestinationParentId=ou_id)
        return account_id, name

    return make


def _ou_id(org, name: str) -> str:
    """The id of the OU named ``name`` anywhere in the tree."""
    pending = [org.list_roots()["Roots"][0]["Id"]]
    while pending:
        parent = pending.pop()
        for page in org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent):
            for ou in page["OrganizationalUnits"]:
                if ou["Name"] == name:
                    return ou["Id"]
                pending.append(ou["Id"])
    raise AssertionError(f"no OU named {name!r} in the seeded organization")


# -- Airflow ----------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def airflow_db():
    """This worker's SQLite metadata DB, migrated once (about 3 s), with the pools the DAGs use."""
    import subprocess
    import sys

    from fleet_airflow.pools import POOLS

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    # In this process: `airflow pools set` would start Airflow's CLI once per pool (seconds each).
    from airflow.models.pool import Pool

    for pool in POOLS:
        Pool.create_or_update_pool(pool.name, pool.slots, pool.description, pool.include_deferred)


@pytest.fixture
def fleet_env(fresh_fleet, aws_server, airflow_db, monkeypatch, tmp_path):
    """For a run of the fleet pipeline: a freshly seeded organization (a run deploys to the accounts
    the sample fleet.yaml names) and connections pointing at it; returns the endpoint."""
    import json

    from tests.support import aws_connection

    endpoint = aws_server.endpoint_url
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", aws_connection(endpoint))
    monkeypatch.setenv("FLEET_WORK_DIR", str(tmp_path / "bundles"))  # never another run's folder
    return endpoint


@pytest.fixture
def fleet_dag(airflow_db):
    from tests.support.dags import parse_dag

    return parse_dag("account_fleet_pipeline")


@pytest.fixture
def behaviour(aws_server):
    """use(profile) makes local AWS behave by ``profile`` (a shipped name or a dict) from now on;
    the default (moto's own behaviour) is back after the test. Apply it after seeding: a profile's
    delays and throttling would otherwise slow the seed."""
    from localaws.profile import set_profile

    def use(profile):
        set_profile(aws_server.endpoint_url, profile)

    yield use
    set_profile(aws_server.endpoint_url, "default")
