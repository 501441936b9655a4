"""Helpers the local AWS tests share (a module of their own: test files never import conftest).

The sample fleet config and templates are the repository's (``include/``): local AWS reads them
as data only, the same files the demo seeds it from.
"""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any

from localaws.clients import DEFAULT_REGION, assume_role, client

REPO = Path(__file__).resolve().parents[2]
SAMPLE_FLEET = REPO / "include" / "fleet.yaml"
TEMPLATES = REPO / "include" / "templates"
_names = itertools.count()


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


class Organization:
    """Clients for the management account and, through the organization's role, any member."""

    def __init__(self, endpoint_url: str, accounts: dict[str, str] | None = None):
        self.endpoint_url = endpoint_url
        self.accounts = accounts or {}
        self._credentials: dict[str, dict[str, str]] = {}

    def client(self, service: str, account_id: str | None = None, region: str | None = None) -> Any:
        credentials = None
        if account_id is not None:
            if account_id not in self._credentials:
                self._credentials[account_id] = assume_role(self.endpoint_url, account_id)
            credentials = self._credentials[account_id]
        return client(service, self.endpoint_url, region or DEFAULT_REGION, credentials)


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
