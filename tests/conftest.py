"""Session-wide settings that must exist before anything imports Airflow or boto3.

Airflow reads its configuration once, at first import, so the test session's AIRFLOW_HOME (a
throwaway SQLite metadata DB) is set here, at collection time, for every test directory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Once per session even if this module is imported again under another name: a second AIRFLOW_HOME
# would send subprocesses (airflow db migrate) to a database the in-process Airflow never sees.
_home = Path(os.environ.get("FLEET_TEST_AIRFLOW_HOME") or tempfile.mkdtemp(prefix="fleet-airflow-home-"))
os.environ["FLEET_TEST_AIRFLOW_HOME"] = str(_home)

os.environ.update({
    "AIRFLOW_HOME": str(_home),
    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
    "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    "AWS_EC2_METADATA_DISABLED": "true",
    # Dummy credentials: a test that forgets to point a client at local AWS must fail, not reach AWS.
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
})
os.environ.pop("AWS_PROFILE", None)


# -- local AWS shared by the suites -----------------------------------------------------------------
# moto keeps its state in module-level backends, so every LocalAws in this process shares one
# state anyway: one server for the session, reset and re-seeded by each test that needs a fleet.
import pytest  # noqa: E402


@pytest.fixture(scope="session")
def aws_server():
    from localaws.server import LocalAws

    with LocalAws() as server:
        yield server


@pytest.fixture
def seeded_fleet(aws_server, monkeypatch):
    """A freshly seeded sample organization; returns an AwsContext on its management account."""
    from fleet.aws import AwsContext

    aws_server.reset()
    aws_server.seed(REPO / "include" / "fleet.yaml")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server.endpoint_url)
    return AwsContext.from_environment("us-east-1")


@pytest.fixture(scope="session")
def airflow_db():
    """The session's SQLite metadata DB, migrated once (about 3 s), with the pools the DAGs use."""
    import subprocess
    import sys

    from fleet_airflow.pools import POOLS, cli_args

    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy())
    for pool in POOLS:
        subprocess.run([sys.executable, "-m", "airflow", *cli_args(pool)], check=True, capture_output=True,
                       env=os.environ.copy())


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
