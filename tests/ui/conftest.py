"""One running Airflow (api-server, scheduler, dag-processor and triggerer as subprocesses, its own
home) for the tests that go through the user's door: the REST API tests, the operator's path, the
push watcher and the browser test share it, so it costs one start-up per worker that runs them."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture(scope="session")
def airflow_stack(aws_server, seeded_org, tmp_path_factory):
    from localaws.clients import client

    from tests.support.stack import AirflowStack

    seeded_org.ensure()
    # The pipeline's push watcher on a queue of this stack's own (the triggerer polls it from start).
    queue = client("sqs", aws_server.endpoint_url).create_queue(
        QueueName=f"fleet-pushes-{uuid.uuid4().hex[:8]}", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    stack = AirflowStack(tmp_path_factory.mktemp("airflow-stack"), aws_server.endpoint_url,
                         env={"FLEET_PUSH_QUEUE_URL": queue, "FLEET_PUSH_REPOSITORY": "fleet",
                              "FLEET_PUSH_BRANCH": "main"})
    stack.push_queue_url = queue
    try:
        stack.start_all()
        yield stack
    finally:
        stack.stop()
