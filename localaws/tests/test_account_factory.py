"""Control Tower's Account Factory through Service Catalog (localaws.servicecatalog.account_factory):
the product in the management account, ProvisionProduct creating the account through Organizations
and moving it into ManagedOrganizationalUnit, the record and provisioned product following the
account's creation, and the errors Service Catalog answers."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.clients import client

from localaws_support import SAMPLE_FLEET

PRODUCT = "AWS Control Tower Account Factory"
PORTFOLIO = "AWS Control Tower Account Factory Portfolio"
OUTPUTS = {"AccountId", "AccountEmail", "AccountName", "SSOUserEmail", "SSOUserPortal"}
_names = itertools.count()


def token() -> str:
    return uuid.uuid4().hex


class Factory:
    """The management account's view of the Account Factory, for one seeded fleet."""

    def __init__(self, ctx: Any) -> None:
        self.ctx = ctx
        self.sc = ctx.client("servicecatalog")
        self.org = ctx.client("organizations")
        product = self.sc.describe_product(Name=PRODUCT)
        self.product_id = product["ProductViewSummary"]["ProductId"]
        self.artifact_id = product["ProvisioningArtifacts"][0]["Id"]
        self.path_id = product["LaunchPaths"][0]["Id"]

    def ou_id(self, name: str) -> str:
        parents = [self.org.list_roots()["Roots"][0]["Id"]]
        while parents:
            parent = parents.pop()
            for ou in self.org.list_organizational_units_for_parent(ParentId=parent)["OrganizationalUnits"]:
                if ou["Name"] == name:
                    return ou["Id"]
                parents.append(ou["Id"])
        raise KeyError(name)

    @staticmethod
    def parameters(name: str, ou: str, email: str | None = None, **overrides: str | None) -> list[dict[str, str]]:
        email = email or f"{name}@example.com"
        values = {"AccountName": name, "AccountEmail": email, "SSOUserEmail": email,
                  "SSOUserFirstName": "Pat", "SSOUserLastName": "Lee", "ManagedOrganizationalUnit": ou}
        values.update(overrides)
        return [{"Key": k, "Value": v} for k, v in values.items() if v is not None]

    def provision(self, name: str, ou: str, provision_token: str | None = None, email: str | None = None,
                  **overrides: str | None) -> dict[str, Any]:
        return self.sc.provision_product(
            ProductId=self.product_id, ProvisioningArtifactId=self.artifact_id, PathId=self.path_id,
            ProvisionedProductName=name, ProvisionToken=provision_token or token(),
            ProvisioningParameters=self.parameters(name, ou, email, **overrides))["RecordDetail"]

    def record(self, record_id: str) -> dict[str, Any]:
        return self.sc.describe_record(Id=record_id)

    def accounts_with_email(self, email: str) -> list[str]:
        pages = self.org.get_paginator("list_accounts").paginate()
        return [a["Id"] for page in pages for a in page["Accounts"] if a["Email"] == email]


def name() -> str:
    return f"vended-{next(_names)}-{uuid.uuid4().hex[:4]}"


def outputs_of(answer: dict[str, Any]) -> dict[str, str]:
    return {o["OutputKey"]: o["OutputValue"] for o in answer["RecordOutputs"]}


@pytest.fixture
def factory(organization) -> Factory:
    return Factory(organization)


class Creations:
    """Stands in for the behaviour profile: holds chosen creations IN_PROGRESS, fails others.

    Patches moto's Organizations backend in this process, where local AWS runs, so what the
    Account Factory reads over HTTP is what a profile delaying or failing CreateAccount answers.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from moto.organizations.models import OrganizationsBackend

        self.held: set[str] = set()  # emails whose creation stays IN_PROGRESS
        self.failing: dict[str, tuple[str, bool]] = {}  # email -> (FailureReason, at once?)
        self._held_requests: dict[str, str] = {}  # request id -> email
        self._failed: dict[str, dict[str, Any]] = {}  # request id -> status
        create, describe = OrganizationsBackend.create_account, OrganizationsBackend.describe_create_account_status

        def create_account(backend: Any, **kwargs: Any) -> dict[str, Any]:
            email = kwargs["Email"]
            if email in self.failing:
                reason, at_once = self.failing[email]
                request_id = f"car-{uuid.uuid4().hex}"
                failed = {"Id": request_id, "AccountName": kwargs["AccountName"], "State": "FAILED",
                          "RequestedTimestamp": time.time(), "CompletedTimestamp": time.time(),
                          "FailureReason": reason}
                self._failed[request_id] = {"CreateAccountStatus": failed}
                if at_once:
                    return {"CreateAccountStatus": failed}
                return {"CreateAccountStatus": {"Id": request_id, "AccountName": kwargs["AccountName"],
                                                "State": "IN_PROGRESS", "RequestedTimestamp": time.time()}}
            answer = create(backend, **kwargs)
            if email in self.held:
                self._held_requests[answer["CreateAccountStatus"]["Id"]] = email
                return self._in_progress(answer)
            return answer

        def describe_create_account_status(backend: Any, **kwargs: Any) -> dict[str, Any]:
            request_id = kwargs["CreateAccountRequestId"]
            if request_id in self._failed:
                return self._failed[request_id]
            answer = describe(backend, **kwargs)
            if self._held_requests.get(request_id) in self.held:
                return self._in_progress(answer)
            return answer

        monkeypatch.setattr(OrganizationsBackend, "create_account", create_account)
        monkeypatch.setattr(OrganizationsBackend, "describe_create_account_status", describe_create_account_status)

    @staticmethod
    def _in_progress(answer: dict[str, Any]) -> dict[str, Any]:
        status = {k: v for k, v in answer["CreateAccountStatus"].items()
                  if k not in ("AccountId", "CompletedTimestamp")}
        return {"CreateAccountStatus": {**status, "State": "IN_PROGRESS"}}


@pytest.fixture
def creations(monkeypatch) -> Creations:
    return Creations(monkeypatch)


# -- the product ------------------------------------------------------------------------------------

def test_the_product_is_published_in_the_management_account(factory):
    sc = factory.sc
    searched = sc.search_products(Filters={"FullTextSearch": ["Account Factory"]})["ProductViewSummaries"]
    assert [(p["ProductId"], p["Name"], p["HasDefaultPath"]) for p in searched] == [(factory.product_id, PRODUCT, True)]
    assert factory.product_id in [p["ProductId"] for p in sc.search_products()["ProductViewSummaries"]]
    admin = sc.search_products_as_admin()["ProductViewDetails"]
    assert factory.product_id in [p["ProductViewSummary"]["ProductId"] for p in admin]
    artifacts = sc.list_provisioning_artifacts(ProductId=factory.product_id)["ProvisioningArtifactDetails"]
    assert [(a["Id"], a["Active"]) for a in artifacts] == [(factory.artifact_id, True)]
    paths = sc.list_launch_paths(ProductId=factory.product_id)["LaunchPathSummaries"]
    assert [(p["Id"], p["Name"]) for p in paths] == [(factory.path_id, PORTFOLIO)]
    assert PORTFOLIO in [p["DisplayName"] for p in sc.list_portfolios()["PortfolioDetails"]]
    parameters = sc.describe_provisioning_parameters(ProductId=factory.product_id, ProvisioningArtifactId=factory.artifact_id,
                                                     PathId=factory.path_id)
    assert {p["ParameterKey"] for p in parameters["ProvisioningArtifactParameters"]} == {
        "AccountName", "AccountEmail", "SSOUserEmail", "SSOUserFirstName", "SSOUserLastName", "ManagedOrganizationalUnit"}
    assert {o["Key"] for o in parameters["ProvisioningArtifactOutputKeys"]} == OUTPUTS


def test_only_in_the_home_region_of_the_management_account(local_aws, factory):
    elsewhere = factory.ctx.client("servicecatalog", region="eu-west-1")
    member = factory.ctx.client("servicecatalog", local_aws.accounts["beta-test"])
    for sc in (elsewhere, member):
        with pytest.raises(ClientError) as missing:
            sc.describe_product(Name=PRODUCT)
        assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_principals_on_the_portfolio_narrow_who_may_launch(factory):
    """The extension's access model: no principals means every identity of the account; once a
    principal is associated only it may launch (the dummy credentials act as the account root)."""
    sc = factory.sc
    portfolio = [p["Id"] for p in sc.list_portfolios()["PortfolioDetails"] if p["DisplayName"] == PORTFOLIO][0]
    principal = "arn:aws:iam::123456789012:role/AccountFactoryAdmins"
    sc.associate_principal_with_portfolio(PortfolioId=portfolio, PrincipalARN=principal, PrincipalType="IAM")
    with pytest.raises(ClientError):
        sc.describe_product(Name=PRODUCT)
    sc.disassociate_principal_from_portfolio(PortfolioId=portfolio, PrincipalARN=principal)
    assert sc.describe_product(Name=PRODUCT)["ProductViewSummary"]["ProductId"] == factory.product_id


# -- provisioning -----------------------------------------------------------------------------------

def test_provision_creates_the_account_in_the_ou_with_its_outputs(factory):
    account_name = name()
    beta = factory.ou_id("Beta")
    started = factory.provision(account_name, f"Beta ({beta})")
    assert started["Status"] == "CREATED"
    assert started["ProvisionedProductType"] == "CONTROL_TOWER_ACCOUNT"

    answer = factory.record(started["RecordId"])
    assert answer["RecordDetail"]["Status"] == "SUCCEEDED", answer["RecordDetail"]["RecordErrors"]
    outputs = outputs_of(answer)
    assert set(outputs) == OUTPUTS
    assert outputs["AccountName"] == account_name and outputs["AccountEmail"] == f"{account_name}@example.com"
    assert outputs["SSOUserEmail"] == f"{account_name}@example.com"
    assert outputs["SSOUserPortal"].startswith("https://d-") and outputs["SSOUserPortal"].endswith(".awsapps.com/start")
    account_id = outputs["AccountId"]
    described = factory.org.describe_account(AccountId=account_id)["Account"]
    assert (described["Name"], described["Email"]) == (account_name, f"{account_name}@example.com")
    assert factory.org.list_parents(ChildId=account_id)["Parents"][0]["Id"] == beta
    # The new account is a member like any other: the organization's role reaches it.
    assert factory.ctx.client("sts", account_id).get_caller_identity()["Account"] == account_id

    sc = factory.sc
    pp = sc.describe_provisioned_product(Name=account_name)["ProvisionedProductDetail"]
    assert (pp["Status"], pp["Type"], pp["LastSuccessfulProvisioningRecordId"]) == (
        "AVAILABLE", "CONTROL_TOWER_ACCOUNT", started["RecordId"])
    found = sc.search_provisioned_products(Filters={"SearchQuery": [f"name:{account_name}"]})["ProvisionedProducts"]
    assert [(p["Status"], p["PhysicalId"], p["ProductName"]) for p in found] == [("AVAILABLE", account_id, PRODUCT)]
    assert pp["Id"] in [p["Id"] for p in sc.scan_provisioned_products()["ProvisionedProducts"]]
    history = sc.list_record_history(SearchFilter={"Key": "provisionedproduct", "Value": pp["Id"]})["RecordDetails"]
    assert [(r["RecordId"], r["Status"]) for r in history] == [(started["RecordId"], "SUCCEEDED")]
    got = sc.get_provisioned_product_outputs(ProvisionedProductName=account_name, OutputKeys=["AccountId"])
    assert [o["OutputValue"] for o in got["Outputs"]] == [account_id]


def test_a_top_level_ou_may_be_named_alone(factory):
    account_name = name()
    record = factory.record(factory.provision(account_name, "Security")["RecordId"])
    assert record["RecordDetail"]["Status"] == "SUCCEEDED"
    account_id = outputs_of(record)["AccountId"]
    assert factory.org.list_parents(ChildId=account_id)["Parents"][0]["Id"] == factory.ou_id("Security")


def test_same_token_is_the_same_request_and_a_used_name_is_a_duplicate(factory):
    account_name, provision_token = name(), token()
    first = factory.provision(account_name, "Infrastructure", provision_token)
    again = factory.provision(account_name, "Infrastructure", provision_token)
    assert again["RecordId"] == first["RecordId"]
    with pytest.raises(ClientError) as duplicate:
        factory.provision(account_name, "Infrastructure")
    assert duplicate.value.response["Error"]["Code"] == "DuplicateResourceException"
    assert factory.record(first["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    assert len(factory.accounts_with_email(f"{account_name}@example.com")) == 1


def test_a_missing_parameter_is_rejected_by_name(factory):
    account_name = name()
    for missing in ("SSOUserLastName", "AccountEmail", "ManagedOrganizationalUnit"):
        for value in (None, ""):
            with pytest.raises(ClientError) as rejected:
                factory.provision(account_name, "Security", **{missing: value})
            error = rejected.value.response["Error"]
            assert error["Code"] == "InvalidParametersException" and missing in error["Message"]
    with pytest.raises(ClientError) as nothing:
        factory.sc.describe_provisioned_product(Name=account_name)
    assert nothing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert factory.accounts_with_email(f"{account_name}@example.com") == []


def test_an_ou_that_does_not_resolve_fails_the_record_and_creates_nothing(factory):
    # A nested OU by bare name is ambiguous to Control Tower: it must be "Name (ou-...)".
    for ou in ("No Such OU", "Beta", "Gamma (ou-zzzz-zzzzzzzz)"):
        account_name = name()
        started = factory.provision(account_name, ou)
        assert started["Status"] == "FAILED", ou
        detail = factory.record(started["RecordId"])["RecordDetail"]
        assert detail["Status"] == "FAILED"
        assert [e["Code"] for e in detail["RecordErrors"]] == ["OrganizationalUnitNotFoundException"]
        pp = factory.sc.describe_provisioned_product(Name=account_name)["ProvisionedProductDetail"]
        assert pp["Status"] == "ERROR" and ou in pp["StatusMessage"]
        assert factory.accounts_with_email(f"{account_name}@example.com") == []


def test_the_record_is_in_progress_while_the_account_is_created(factory, creations):
    account_name = name()
    creations.held.add(f"{account_name}@example.com")
    gamma = factory.ou_id("Gamma")
    started = factory.provision(account_name, f"Gamma ({gamma})")
    assert started["Status"] == "CREATED"
    for _ in range(2):
        answer = factory.record(started["RecordId"])
        assert answer["RecordDetail"]["Status"] == "IN_PROGRESS" and answer["RecordOutputs"] == []
    pp = factory.sc.describe_provisioned_product(Name=account_name)["ProvisionedProductDetail"]
    assert pp["Status"] == "UNDER_CHANGE"
    scanned = {p["Name"]: p["Status"] for p in factory.sc.scan_provisioned_products()["ProvisionedProducts"]}
    assert scanned[account_name] == "UNDER_CHANGE"
    with pytest.raises(ClientError) as busy:
        factory.sc.terminate_provisioned_product(ProvisionedProductName=account_name, TerminateToken=token())
    assert busy.value.response["Error"]["Code"] == "InvalidParametersException"

    creations.held.clear()
    answer = factory.record(started["RecordId"])
    assert answer["RecordDetail"]["Status"] == "SUCCEEDED"
    assert factory.org.list_parents(ChildId=outputs_of(answer)["AccountId"])["Parents"][0]["Id"] == gamma
    scanned = {p["Name"]: p["Status"] for p in factory.sc.scan_provisioned_products()["ProvisionedProducts"]}
    assert scanned[account_name] == "AVAILABLE"


@pytest.mark.parametrize("at_once", [False, True], ids=["reported-later", "reported-at-once"])
def test_a_failed_creation_fails_the_record_with_its_reason(factory, creations, at_once):
    account_name = name()
    creations.failing[f"{account_name}@example.com"] = ("EMAIL_ALREADY_EXISTS", at_once)
    started = factory.provision(account_name, "Security")
    assert started["Status"] == ("FAILED" if at_once else "CREATED")
    # ListRecordHistory reads (and so moves on) every record of the account.
    history = factory.sc.list_record_history()["RecordDetails"]
    detail = [r for r in history if r["RecordId"] == started["RecordId"]][0]
    assert detail["Status"] == "FAILED"
    assert [e["Code"] for e in detail["RecordErrors"]] == ["EMAIL_ALREADY_EXISTS"]
    assert factory.record(started["RecordId"])["RecordOutputs"] == []
    pp = factory.sc.describe_provisioned_product(Name=account_name)["ProvisionedProductDetail"]
    assert pp["Status"] == "ERROR" and "EMAIL_ALREADY_EXISTS" in pp["StatusMessage"]
    assert "LastSuccessfulProvisioningRecordId" not in pp
    # The name stays taken until the failed provisioned product is terminated, as in Service Catalog.
    with pytest.raises(ClientError) as duplicate:
        factory.provision(account_name, "Security")
    assert duplicate.value.response["Error"]["Code"] == "DuplicateResourceException"
    factory.sc.terminate_provisioned_product(ProvisionedProductName=account_name, TerminateToken=token())
    creations.failing.clear()
    assert factory.record(factory.provision(account_name, "Security")["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"


def test_an_ou_gone_before_the_move_fails_the_record(factory, creations):
    root = factory.org.list_roots()["Roots"][0]["Id"]
    doomed = factory.org.create_organizational_unit(ParentId=root, Name=f"doomed-{token()[:6]}")["OrganizationalUnit"]
    account_name = name()
    creations.held.add(f"{account_name}@example.com")
    started = factory.provision(account_name, f"{doomed['Name']} ({doomed['Id']})")
    assert factory.record(started["RecordId"])["RecordDetail"]["Status"] == "IN_PROGRESS"
    factory.org.delete_organizational_unit(OrganizationalUnitId=doomed["Id"])
    creations.held.clear()
    detail = factory.record(started["RecordId"])["RecordDetail"]
    assert detail["Status"] == "FAILED"
    assert detail["RecordErrors"][0]["Code"].endswith("NotFoundException")
    pp = factory.sc.describe_provisioned_product(Name=account_name)["ProvisionedProductDetail"]
    assert pp["Status"] == "ERROR"


# Last: it empties the organization the module shares.
def test_reset_forgets_the_factory_and_a_new_organization_gets_it_again(local_aws, factory):
    factory.provision(name(), "Security")
    local_aws.reset()
    sc = client("servicecatalog", local_aws.endpoint_url)
    with pytest.raises(ClientError) as gone:
        sc.describe_product(Name=PRODUCT)  # no organization, no Control Tower
    assert gone.value.response["Error"]["Code"] == "ResourceNotFoundException"
    assert sc.scan_provisioned_products()["ProvisionedProducts"] == []
    local_aws.seed(SAMPLE_FLEET)
    again = sc.describe_product(Name=PRODUCT)["ProductViewSummary"]["ProductId"]
    assert again != factory.product_id
