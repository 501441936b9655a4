"""Service Catalog errors and edge states, each as the API reference documents it."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from botocore.exceptions import ClientError

from localaws.clients import assume_role, client
from localaws.servicecatalog import ServiceCatalogExtension

from localaws_support import TEMPLATES, Member

TEMPLATE = (TEMPLATES / "products" / "encrypted-bucket.yaml").read_text()
NEEDS_A_VALUE = """
Parameters:
  Owner: {Type: String}
Resources:
  Topic: {Type: AWS::SNS::Topic}
"""
# moto fails CreateStack itself on an import of a missing export (it has no ROLLBACK state).
BROKEN = """
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties: {TopicName: !ImportValue no-such-export}
"""


def token() -> str:
    return uuid.uuid4().hex


class Setup:
    """A portfolio with one product in the management account, imported by one member account."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.sc = client("servicecatalog", endpoint_url)
        s3 = client("s3", endpoint_url)
        self.bucket = f"sc-errors-{token()[:8]}"
        s3.create_bucket(Bucket=self.bucket)
        for key, body in (("bucket.yaml", TEMPLATE), ("needs-value.yaml", NEEDS_A_VALUE), ("broken.yaml", BROKEN)):
            s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode())
        self.portfolio_id = self.sc.create_portfolio(
            DisplayName="Errors", ProviderName="Platform", IdempotencyToken=token()
        )["PortfolioDetail"]["Id"]
        self.product_id, self.artifact_id = self.product("bucket.yaml", "errors-bucket")
        self.member = Member(endpoint_url)
        self.sc.create_portfolio_share(PortfolioId=self.portfolio_id, AccountId=self.member.account_id)
        self.end_user = self.member.client("servicecatalog")
        self.end_user.accept_portfolio_share(PortfolioId=self.portfolio_id, PortfolioShareType="IMPORTED")

    def url(self, key: str) -> str:
        return f"http://127.0.0.1/{self.bucket}/{key}"

    def product(self, key: str, name: str) -> tuple[str, str]:
        created = self.sc.create_product(
            Name=name, Owner="platform", ProductType="CLOUD_FORMATION_TEMPLATE",
            ProvisioningArtifactParameters={"Name": "v1", "Info": {"LoadTemplateFromURL": self.url(key)}},
            IdempotencyToken=token(),
        )
        product_id = created["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        self.sc.associate_product_with_portfolio(ProductId=product_id, PortfolioId=self.portfolio_id)
        return product_id, created["ProvisioningArtifactDetail"]["Id"]

    def provision(self, sc: Any, product_id: str, artifact_id: str, name: str | None = None, **extra: Any) -> dict[str, Any]:
        return sc.provision_product(
            ProductId=product_id, ProvisioningArtifactId=artifact_id,
            ProvisionedProductName=name or f"pp-{token()[:10]}", ProvisionToken=token(), **extra,
        )["RecordDetail"]


@pytest.fixture(scope="module")
def setup(local_aws) -> Setup:
    return Setup(local_aws.endpoint_url)


def error_code(excinfo: pytest.ExceptionInfo[ClientError]) -> str:
    return excinfo.value.response["Error"]["Code"]


@pytest.mark.parametrize(
    "call",
    [
        lambda sc: sc.describe_portfolio(Id="port-doesnotexist1"),
        lambda sc: sc.describe_product_as_admin(Id="prod-doesnotexist1"),
        lambda sc: sc.describe_product(Id="prod-doesnotexist1"),
        lambda sc: sc.describe_provisioning_artifact(ProductId="prod-doesnotexist1", ProvisioningArtifactId="pa-x"),
        lambda sc: sc.describe_constraint(Id="cons-doesnotexist1"),
        lambda sc: sc.describe_record(Id="rec-doesnotexist1"),
        lambda sc: sc.describe_provisioned_product(Id="pp-doesnotexist1"),
        lambda sc: sc.describe_tag_option(Id="tag-doesnotexist1"),
        lambda sc: sc.describe_portfolio_share_status(PortfolioShareToken="share-doesnotexist1"),
        lambda sc: sc.delete_portfolio(Id="port-doesnotexist1"),
        lambda sc: sc.terminate_provisioned_product(ProvisionedProductId="pp-doesnotexist1", TerminateToken="t"),
        lambda sc: sc.list_launch_paths(ProductId="prod-doesnotexist1"),
    ],
)
def test_unknown_ids_are_resource_not_found(setup: Setup, call: Any) -> None:
    with pytest.raises(ClientError) as excinfo:
        call(setup.sc)
    assert error_code(excinfo) == "ResourceNotFoundException"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_artifact_of_a_known_product(setup: Setup) -> None:
    with pytest.raises(setup.sc.exceptions.ResourceNotFoundException):
        setup.sc.describe_provisioning_artifact(ProductId=setup.product_id, ProvisioningArtifactId="pa-doesnotexist1")


def test_second_launch_constraint_is_a_duplicate(setup: Setup) -> None:
    sc = setup.sc
    product_id, _ = setup.product("bucket.yaml", "constrained")
    parameters = json.dumps({"RoleArn": "arn:aws:iam::123456789012:role/SCLaunch"})
    sc.create_constraint(PortfolioId=setup.portfolio_id, ProductId=product_id, Type="LAUNCH",
                         Parameters=parameters, IdempotencyToken=token())
    with pytest.raises(sc.exceptions.DuplicateResourceException):
        sc.create_constraint(PortfolioId=setup.portfolio_id, ProductId=product_id, Type="LAUNCH",
                             Parameters=json.dumps({"LocalRoleName": "Other"}), IdempotencyToken=token())
    with pytest.raises(sc.exceptions.InvalidParametersException):
        sc.create_constraint(PortfolioId=setup.portfolio_id, ProductId=product_id, Type="LAUNCH",
                             Parameters=json.dumps({}), IdempotencyToken=token())
    # The product now has a constraint in the portfolio: it cannot leave it.
    with pytest.raises(sc.exceptions.ResourceInUseException):
        sc.disassociate_product_from_portfolio(ProductId=product_id, PortfolioId=setup.portfolio_id)


def test_the_last_provisioning_artifact_cannot_be_deleted(setup: Setup) -> None:
    sc = setup.sc
    product_id = sc.create_product(
        Name="one-version", Owner="platform", ProductType="CLOUD_FORMATION_TEMPLATE",
        ProvisioningArtifactParameters={"Info": {"LoadTemplateFromURL": setup.url("bucket.yaml")}},
        IdempotencyToken=token(),
    )["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
    second = sc.create_provisioning_artifact(
        ProductId=product_id, Parameters={"Name": "v2", "Info": {"LoadTemplateFromURL": setup.url("bucket.yaml")}},
        IdempotencyToken=token(),
    )["ProvisioningArtifactDetail"]["Id"]
    sc.delete_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=second)
    only = sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]
    assert len(only) == 1
    with pytest.raises(sc.exceptions.InvalidParametersException):
        sc.delete_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=only[0]["Id"])
    sc.delete_product(Id=product_id)


def test_product_from_a_missing_template_is_refused(setup: Setup) -> None:
    with pytest.raises(setup.sc.exceptions.InvalidParametersException):
        setup.sc.create_product(
            Name="nothing", Owner="platform", ProductType="CLOUD_FORMATION_TEMPLATE",
            ProvisioningArtifactParameters={"Info": {"LoadTemplateFromURL": setup.url("missing.yaml")}},
            IdempotencyToken=token(),
        )


def test_in_use_portfolio_and_product_cannot_be_deleted(setup: Setup) -> None:
    with pytest.raises(setup.sc.exceptions.ResourceInUseException):
        setup.sc.delete_portfolio(Id=setup.portfolio_id)
    with pytest.raises(setup.sc.exceptions.ResourceInUseException):
        setup.sc.delete_product(Id=setup.product_id)


def test_accepting_a_share_you_were_not_given(setup: Setup) -> None:
    stranger = Member(setup.endpoint_url).client("servicecatalog")
    for share_type in ("IMPORTED", "AWS_ORGANIZATIONS"):
        with pytest.raises(stranger.exceptions.ResourceNotFoundException):
            stranger.accept_portfolio_share(PortfolioId=setup.portfolio_id, PortfolioShareType=share_type)
    with pytest.raises(stranger.exceptions.ResourceNotFoundException):
        stranger.describe_portfolio(Id=setup.portfolio_id)


def test_ou_share_reaches_only_accounts_below_the_ou(setup: Setup) -> None:
    org = client("organizations", setup.endpoint_url)
    root = org.list_roots()["Roots"][0]["Id"]
    ou = org.create_organizational_unit(ParentId=root, Name=f"sandbox-{token()[:6]}")["OrganizationalUnit"]["Id"]
    setup.sc.enable_aws_organizations_access()
    setup.sc.create_portfolio_share(PortfolioId=setup.portfolio_id, OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": ou})
    outside = Member(setup.endpoint_url).client("servicecatalog")  # stays under the root
    with pytest.raises(outside.exceptions.ResourceNotFoundException):
        outside.accept_portfolio_share(PortfolioId=setup.portfolio_id, PortfolioShareType="AWS_ORGANIZATIONS")
    setup.sc.delete_portfolio_share(PortfolioId=setup.portfolio_id, OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": ou})


def test_organization_shares_need_organizations_access_and_the_management_account(setup: Setup) -> None:
    sc = setup.sc
    org_id = client("organizations", setup.endpoint_url).describe_organization()["Organization"]["Id"]
    sc.disable_aws_organizations_access()
    assert sc.get_aws_organizations_access_status()["AccessStatus"] == "DISABLED"
    try:
        with pytest.raises(sc.exceptions.InvalidStateException):
            sc.create_portfolio_share(PortfolioId=setup.portfolio_id, OrganizationNode={"Type": "ORGANIZATION", "Value": org_id})
    finally:
        sc.enable_aws_organizations_access()
    with pytest.raises(sc.exceptions.InvalidParametersException):
        sc.create_portfolio_share(PortfolioId=setup.portfolio_id, OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": "ou-nope-12345678"})
    member_admin = setup.end_user
    own = member_admin.create_portfolio(DisplayName="mine", ProviderName="team", IdempotencyToken=token())["PortfolioDetail"]["Id"]
    with pytest.raises(member_admin.exceptions.InvalidStateException):
        member_admin.create_portfolio_share(PortfolioId=own, OrganizationNode={"Type": "ORGANIZATION", "Value": org_id})
    member_admin.delete_portfolio(Id=own)


def test_provisioning_without_access_is_not_found(setup: Setup) -> None:
    stranger = Member(setup.endpoint_url).client("servicecatalog")  # never shared with
    with pytest.raises(stranger.exceptions.ResourceNotFoundException):
        setup.provision(stranger, setup.product_id, setup.artifact_id)
    assert stranger.search_products()["ProductViewSummaries"] == []

    # Imported, but the portfolio's principals (in the importing account) name another role.
    sc = setup.member.client("servicecatalog")
    other_role = f"arn:aws:iam::{setup.member.account_id}:role/Developers"
    sc.associate_principal_with_portfolio(PortfolioId=setup.portfolio_id, PrincipalARN=other_role, PrincipalType="IAM")
    try:
        with pytest.raises(sc.exceptions.ResourceNotFoundException):
            setup.provision(sc, setup.product_id, setup.artifact_id)
        developer = client("servicecatalog", setup.endpoint_url,
                           credentials=assume_role(setup.endpoint_url, setup.member.account_id, "Developers"))
        record = setup.provision(developer, setup.product_id, setup.artifact_id)
        assert record["Status"] == "SUCCEEDED"
        # The default access level is Account: the org role sees the developer's product too.
        ids = [p["Id"] for p in sc.scan_provisioned_products()["ProvisionedProducts"]]
        assert record["ProvisionedProductId"] in ids
        assert sc.scan_provisioned_products(AccessLevelFilter={"Key": "User", "Value": "self"})["ProvisionedProducts"] == []
        developer.terminate_provisioned_product(ProvisionedProductId=record["ProvisionedProductId"], TerminateToken=token())
    finally:
        sc.disassociate_principal_from_portfolio(PortfolioId=setup.portfolio_id, PrincipalARN=other_role)


def test_deprecated_or_inactive_versions_cannot_be_launched(setup: Setup) -> None:
    product_id, v1 = setup.product("bucket.yaml", "versions")
    v2 = setup.sc.create_provisioning_artifact(
        ProductId=product_id, Parameters={"Name": "v2", "Info": {"LoadTemplateFromURL": setup.url("bucket.yaml")}},
        IdempotencyToken=token(),
    )["ProvisioningArtifactDetail"]["Id"]
    setup.sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=v1, Guidance="DEPRECATED")
    setup.sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=v2, Active=False)
    for artifact in (v1, v2):
        with pytest.raises(setup.end_user.exceptions.InvalidParametersException):
            setup.provision(setup.end_user, product_id, artifact)
    assert [a["Id"] for a in setup.end_user.describe_product(Id=product_id)["ProvisioningArtifacts"]] == [v1]


def test_duplicate_name_and_idempotent_provision_token(setup: Setup) -> None:
    sc = setup.end_user
    name = f"dup-{token()[:8]}"
    same = token()
    first = sc.provision_product(ProductId=setup.product_id, ProvisioningArtifactId=setup.artifact_id,
                                 ProvisionedProductName=name, ProvisionToken=same)["RecordDetail"]
    again = sc.provision_product(ProductId=setup.product_id, ProvisioningArtifactId=setup.artifact_id,
                                 ProvisionedProductName=name, ProvisionToken=same)["RecordDetail"]
    assert again["RecordId"] == first["RecordId"]
    with pytest.raises(sc.exceptions.DuplicateResourceException):
        setup.provision(sc, setup.product_id, setup.artifact_id, name=name)
    sc.terminate_provisioned_product(ProvisionedProductName=name, TerminateToken=token())


@pytest.mark.parametrize(
    ("key", "parameters", "message"),
    [
        ("needs-value.yaml", [], "must have values"),
        ("needs-value.yaml", [{"Key": "Owner", "Value": "a"}, {"Key": "Typo", "Value": "b"}], "do not exist"),
        ("broken.yaml", [], "No export named no-such-export"),
    ],
)
def test_a_failing_stack_gives_a_failed_record(setup: Setup, key: str, parameters: list[dict[str, str]], message: str) -> None:
    product_id, artifact_id = setup.product(key, f"fails-{token()[:6]}")
    record = setup.provision(setup.end_user, product_id, artifact_id, ProvisioningParameters=parameters)
    assert record["Status"] == "FAILED"
    assert record["RecordErrors"] and message in record["RecordErrors"][0]["Description"]
    pp = setup.end_user.describe_provisioned_product(Id=record["ProvisionedProductId"])["ProvisionedProductDetail"]
    assert pp["Status"] == "ERROR"
    assert "LastSuccessfulProvisioningRecordId" not in pp
    terminated = setup.end_user.terminate_provisioned_product(ProvisionedProductId=pp["Id"], TerminateToken=token())
    assert terminated["RecordDetail"]["Status"] == "SUCCEEDED"


def test_concurrent_launches_in_one_account(setup: Setup) -> None:
    sc = setup.end_user

    def launch(i: int) -> dict[str, Any]:
        return setup.provision(sc, setup.product_id, setup.artifact_id, name=f"parallel-{i}-{token()[:6]}")

    with ThreadPoolExecutor(max_workers=8) as pool:
        records = list(pool.map(launch, range(8)))
    assert {r["Status"] for r in records} == {"SUCCEEDED"}
    assert len({r["ProvisionedProductId"] for r in records}) == 8
    for record in records:
        sc.terminate_provisioned_product(ProvisionedProductId=record["ProvisionedProductId"], TerminateToken=token())


def test_paging(setup: Setup) -> None:
    sc = setup.member.client("servicecatalog")
    ids = [sc.create_portfolio(DisplayName=f"p{i}", ProviderName="x", IdempotencyToken=token())["PortfolioDetail"]["Id"] for i in range(3)]
    first = sc.list_portfolios(PageSize=2)
    rest = sc.list_portfolios(PageSize=2, PageToken=first["NextPageToken"])
    assert [p["Id"] for p in first["PortfolioDetails"] + rest["PortfolioDetails"]] == ids
    assert "NextPageToken" not in rest
    for portfolio_id in ids:
        sc.delete_portfolio(Id=portfolio_id)


def test_operations_we_do_not_serve_fall_through_to_moto() -> None:
    extension = ServiceCatalogExtension()

    def environ(operation: str) -> dict[str, Any]:
        return {"REQUEST_METHOD": "POST", "PATH_INFO": "/",
                "HTTP_X_AMZ_TARGET": f"AWS242ServiceCatalogService.{operation}"}

    assert extension.matches(environ("ProvisionProduct"))
    assert extension.matches(environ("CreatePortfolioShare"))  # moto has it; we own the state
    assert not extension.matches(environ("CopyProduct"))
    assert not extension.matches({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.ListTables"})


@pytest.mark.parametrize(
    "url",
    [
        "https://templates.s3.amazonaws.com/products/v1.yaml",
        "https://templates.s3.eu-west-1.amazonaws.com/products/v1.yaml",
        "https://s3.amazonaws.com/templates/products/v1.yaml",
        "https://s3.us-east-1.amazonaws.com/templates/products/v1.yaml",
        "http://127.0.0.1:4566/templates/products/v1.yaml",
    ],
)
def test_template_urls_in_every_s3_form(url: str) -> None:
    from localaws.servicecatalog.templates import split_s3_url

    assert split_s3_url(url) == ("templates", "products/v1.yaml")
