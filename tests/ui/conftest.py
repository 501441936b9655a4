"""One running Airflow (api-server, scheduler, dag-processor and triggerer as subprocesses, its own
home) for the tests that go through the user's door: the REST API tests, the operator's path and
the browser test share it, so it costs one start-up per worker that runs them."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def airflow_stack(aws_server, seeded_org, tmp_path_factory):
    from tests.support.stack import AirflowStack

    seeded_org.ensure()
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-stack"), aws_server.endpoint_url)
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop()
