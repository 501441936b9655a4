"""One in-process local AWS for the whole test session; tests isolate by creating their own
member account (or, for seeding, by resetting first)."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

import pytest

from localaws.clients import assume_role, client
from localaws.server import LocalAws

REPO = Path(__file__).resolve().parents[2]
TEMPLATES = REPO / "include" / "templates"
_names = itertools.count()


@pytest.fixture(scope="session")
def local_aws():
    with LocalAws() as aws:
        yield aws


def new_member_account(endpoint_url: str) -> str:
    """A fresh member account made by CreateAccount (organization created if needed)."""
    org = client("organizations", endpoint_url)
    try:
        org.describe_organization()
    except org.exceptions.AWSOrganizationsNotInUseException:
        org.create_organization(FeatureSet="ALL")
    name = f"member-{next(_names)}-{uuid.uuid4().hex[:6]}"
    status = org.create_account(AccountName=name, Email=f"{name}@example.com")
    return status["CreateAccountStatus"]["AccountId"]


class Member:
    """Clients in a member account, reached the way the pipeline does (assume the org role)."""

    def __init__(self, endpoint_url: str):
        self.endpoint_url = endpoint_url
        self.account_id = new_member_account(endpoint_url)
        self.credentials = assume_role(endpoint_url, self.account_id)

    def client(self, service: str) -> Any:
        return client(service, self.endpoint_url, credentials=self.credentials)

    def deploy(self, stack: str, template: str, parameters: dict[str, str] | None = None,
               change_set_type: str = "CREATE") -> dict[str, Any]:
        """Create and execute a change set; returns the DescribeChangeSet answer."""
        cfn = self.client("cloudformation")
        created = cfn.create_change_set(
            StackName=stack, ChangeSetName=f"cs-{uuid.uuid4().hex[:8]}",
            ChangeSetType=change_set_type, TemplateBody=template,
            Capabilities=["CAPABILITY_NAMED_IAM"],
            Parameters=[{"ParameterKey": k, "ParameterValue": v}
                        for k, v in (parameters or {}).items()])
        described = cfn.describe_change_set(ChangeSetName=created["Id"])
        if described["Status"] == "CREATE_COMPLETE":
            cfn.execute_change_set(ChangeSetName=created["Id"])
        return described

    def stack(self, name: str) -> dict[str, Any]:
        return self.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]

    def outputs(self, name: str) -> dict[str, str]:
        return {o["OutputKey"]: o["OutputValue"] for o in self.stack(name).get("Outputs", [])}

    def physical_ids(self, name: str) -> dict[str, str]:
        resources = self.client("cloudformation").describe_stack_resources(StackName=name)
        return {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources["StackResources"]}


@pytest.fixture
def member(local_aws) -> Member:
    return Member(local_aws.endpoint_url)
