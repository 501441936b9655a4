"""The smoke test waits for a Service Catalog record with a bounded botocore waiter, not a bare loop."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber

from fleet.catalog import CatalogError
from fleet.catalog_smoke import _wait_record


def record(status: str) -> dict:
    return {"RecordDetail": {"RecordId": "rec-1", "Status": status}}


@pytest.fixture
def sc():
    client = boto3.client("servicecatalog", region_name="us-east-1", aws_access_key_id="x",
                          aws_secret_access_key="x")
    with Stubber(client) as stub:
        yield client, stub
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("final", ["SUCCEEDED", "FAILED"])
def test_the_wait_ends_on_either_final_status_and_returns_the_record(sc, final):
    client, stub = sc
    for status in ("CREATED", "IN_PROGRESS", final, final):  # the last read is the record returned
        stub.add_response("describe_record", record(status), {"Id": "rec-1"})
    assert _wait_record(client, "rec-1", timeout=1, poll=0.01)["RecordDetail"]["Status"] == final


def test_a_record_that_never_finishes_fails_after_the_timeout_naming_its_state(sc):
    client, stub = sc
    for _ in range(3):
        stub.add_response("describe_record", record("IN_PROGRESS_IN_ERROR"), {"Id": "rec-1"})
    with pytest.raises(CatalogError, match="record rec-1 still IN_PROGRESS_IN_ERROR after 0s"):
        _wait_record(client, "rec-1", timeout=0.3, poll=0.1)
