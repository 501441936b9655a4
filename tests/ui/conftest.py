"""One running Airflow (api-server subprocess, its own home) for the tests that go through the
user's door: the REST API test and the browser test share it, so it costs one start-up per worker."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_stack(aws_server, seeded_org, tmp_path_factory):
    from tests.support.stack import AirflowStack

    seeded_org.ensure()
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-stack"), aws_server.endpoint_url)
    stack.airflow("db", "migrate")
    stack.airflow("dags", "reserialize")  # the DAGs in the metadata DB, as a dag-processor would put them
    stack.start("api-server", "--port", str(stack.port))
    try:
        stack.wait_api()
        yield stack
    finally:
        stack.stop()
