"""One in-process local AWS for the whole session of local AWS's own tests; tests isolate by
creating their own member account (or, for seeding, by resetting first).

moto keeps its state in module-level backends, so any other LocalAws in this process would share
this state anyway: there is one server fixture, ``local_aws``.
"""

from __future__ import annotations

import os

import pytest

from localaws.server import LocalAws
from localaws_support import SAMPLE_FLEET, Member, Organization

# Dummy credentials: a test that forgets to point a client at local AWS must fail, not reach AWS.
for _name, _value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"),
                      ("AWS_DEFAULT_REGION", "us-east-1"), ("AWS_EC2_METADATA_DISABLED", "true")):
    os.environ.setdefault(_name, _value)
os.environ.pop("AWS_PROFILE", None)


@pytest.fixture(scope="session")
def local_aws():
    with LocalAws() as aws:
        yield aws


@pytest.fixture(scope="module")
def organization(local_aws):
    """The sample organization, seeded once for the module that asks for it; its tests make
    accounts of their own names, so they do not disturb each other."""
    local_aws.reset()
    accounts = local_aws.seed(SAMPLE_FLEET)
    return Organization(local_aws.endpoint_url, accounts)


@pytest.fixture
def member(local_aws) -> Member:
    return Member(local_aws.endpoint_url)
