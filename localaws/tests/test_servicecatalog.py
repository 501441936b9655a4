"""Service Catalog end to end through boto3 against local AWS: an administrator in the management
account builds and shares a portfolio; an end user in a member account launches from it."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from localaws.clients import client

from localaws_support import TEMPLATES, Member

TEMPLATE = TEMPLATES / "products" / "encrypted-bucket.yaml"
END_USER_ROLE = "OrganizationAccountAccessRole"


def token() -> str:
    return uuid.uuid4().hex


class Catalog:
    """What the administrator built, shared by the tests of this module."""

    def __init__(self, endpoint_url: str) -> None:
        self.endpoint_url = endpoint_url
        self.admin = client("servicecatalog", endpoint_url)
        self.s3 = client("s3", endpoint_url)
        self.org = client("organizations", endpoint_url)
        self.bucket = f"sc-templates-{uuid.uuid4().hex[:8]}"
        self.s3.create_bucket(Bucket=self.bucket)
        body = TEMPLATE.read_text()
        self.urls = []
        for version in ("v1", "v2", "v3"):
            key = f"encrypted-bucket/{version}.yaml"
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body.encode())
            self.urls.append(f"https://{self.bucket}.s3.amazonaws.com/{key}")
        # One URL in the other documented form: path style with a regional endpoint.
        self.urls[2] = f"https://s3.us-east-1.amazonaws.com/{self.bucket}/encrypted-bucket/v3.yaml"

    def member_in_new_ou(self) -> tuple[Member, str]:
        member = Member(self.endpoint_url)
        root = self.org.list_roots()["Roots"][0]["Id"]
        parent = self.org.create_organizational_unit(ParentId=root, Name=f"workloads-{token()[:6]}")
        ou = self.org.create_organizational_unit(
            ParentId=parent["OrganizationalUnit"]["Id"], Name="apps"
        )["OrganizationalUnit"]["Id"]
        self.org.move_account(AccountId=member.account_id, SourceParentId=root, DestinationParentId=ou)
        # Share to the *parent* OU: the member sits one level below it.
        return member, parent["OrganizationalUnit"]["Id"]


@pytest.fixture(scope="module")
def catalog(local_aws) -> Catalog:
    return Catalog(local_aws.endpoint_url)


def _portfolio(sc: Any, name: str = "Shared Services") -> str:
    return sc.create_portfolio(DisplayName=name, ProviderName="Platform", IdempotencyToken=token())[
        "PortfolioDetail"
    ]["Id"]


def _product(sc: Any, url: str, name: str = "encrypted-bucket") -> dict[str, Any]:
    return sc.create_product(
        Name=name,
        Owner="platform",
        Description="KMS-encrypted S3 bucket",
        ProductType="CLOUD_FORMATION_TEMPLATE",
        ProvisioningArtifactParameters={
            "Name": "v1",
            "Info": {"LoadTemplateFromURL": url},
            "Type": "CLOUD_FORMATION_TEMPLATE",
        },
        IdempotencyToken=token(),
    )


def test_product_lifecycle_shared_to_an_ou_and_launched_in_a_member_account(catalog: Catalog) -> None:
    sc = catalog.admin

    # -- administrator: portfolio (idempotent), product, three versions ------------------------
    same = token()
    first = sc.create_portfolio(DisplayName="Shared Services", ProviderName="Platform", IdempotencyToken=same)
    again = sc.create_portfolio(DisplayName="Shared Services", ProviderName="Platform", IdempotencyToken=same)
    portfolio_id = first["PortfolioDetail"]["Id"]
    assert again["PortfolioDetail"]["Id"] == portfolio_id
    assert first["PortfolioDetail"]["ARN"].endswith(f":portfolio/{portfolio_id}")
    assert portfolio_id in [p["Id"] for p in sc.list_portfolios(PageSize=100)["PortfolioDetails"]]

    created = _product(sc, catalog.urls[0])
    product_id = created["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
    v1 = created["ProvisioningArtifactDetail"]["Id"]
    assert created["ProductViewDetail"]["Status"] == "AVAILABLE"
    v2 = sc.create_provisioning_artifact(
        ProductId=product_id, Parameters={"Name": "v2", "Info": {"LoadTemplateFromURL": catalog.urls[1]}},
        IdempotencyToken=token(),
    )["ProvisioningArtifactDetail"]["Id"]
    v3 = sc.create_provisioning_artifact(
        ProductId=product_id, Parameters={"Name": "v3", "Info": {"LoadTemplateFromURL": catalog.urls[2]}},
        IdempotencyToken=token(),
    )["ProvisioningArtifactDetail"]["Id"]
    sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=v1, Guidance="DEPRECATED")
    versions = {a["Name"]: a for a in sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]}
    assert [versions[n]["Guidance"] for n in ("v1", "v2", "v3")] == ["DEPRECATED", "DEFAULT", "DEFAULT"]
    described = sc.describe_provisioning_artifact(
        ProductId=product_id, ProvisioningArtifactId=v3, IncludeProvisioningArtifactParameters=True
    )
    assert described["Info"]["TemplateUrl"] == catalog.urls[2]
    assert {p["ParameterKey"] for p in described["ProvisioningArtifactParameters"]} == {"KmsKeyArn", "NoncurrentVersionDays"}

    sc.associate_product_with_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    assert [p["Id"] for p in sc.list_portfolios_for_product(ProductId=product_id)["PortfolioDetails"]] == [portfolio_id]
    found = sc.search_products_as_admin(PortfolioId=portfolio_id, Filters={"FullTextSearch": ["encrypted"]})
    assert [d["ProductViewSummary"]["ProductId"] for d in found["ProductViewDetails"]] == [product_id]

    # -- principals (shared by name to recipients) and the launch constraint ----------------------
    sc.associate_principal_with_portfolio(
        PortfolioId=portfolio_id, PrincipalARN=f"arn:aws:iam:::role/{END_USER_ROLE}", PrincipalType="IAM_PATTERN"
    )
    sc.associate_principal_with_portfolio(
        PortfolioId=portfolio_id, PrincipalARN="arn:aws:iam::123456789012:role/PlatformAdmin", PrincipalType="IAM"
    )
    assert len(sc.list_principals_for_portfolio(PortfolioId=portfolio_id)["Principals"]) == 2
    constraint = sc.create_constraint(
        PortfolioId=portfolio_id, ProductId=product_id, Type="LAUNCH",
        Parameters=json.dumps({"LocalRoleName": "SCLaunchRole"}), IdempotencyToken=token(),
    )
    assert constraint["Status"] == "AVAILABLE"
    constraint_id = constraint["ConstraintDetail"]["ConstraintId"]
    assert sc.describe_constraint(Id=constraint_id)["ConstraintDetail"]["Type"] == "LAUNCH"
    assert [c["ConstraintId"] for c in sc.list_constraints_for_portfolio(PortfolioId=portfolio_id)["ConstraintDetails"]] == [constraint_id]

    # -- share to an OU; the member account (one level below) accepts -----------------------------
    member, ou_id = catalog.member_in_new_ou()
    sc.enable_aws_organizations_access()
    share_token = sc.create_portfolio_share(
        PortfolioId=portfolio_id, OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": ou_id}, SharePrincipals=True
    )["PortfolioShareToken"]
    status = sc.describe_portfolio_share_status(PortfolioShareToken=share_token)
    assert status["Status"] == "COMPLETED"
    assert member.account_id in status["ShareDetails"]["SuccessfulShares"]
    shares = sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type="ORGANIZATIONAL_UNIT")["PortfolioShareDetails"]
    assert [(s["PrincipalId"], s["SharePrincipals"]) for s in shares] == [(ou_id, True)]

    end_user = member.client("servicecatalog")
    assert end_user.search_products()["ProductViewSummaries"] == []  # not accepted yet
    end_user.accept_portfolio_share(PortfolioId=portfolio_id, PortfolioShareType="AWS_ORGANIZATIONS")
    accepted = end_user.list_accepted_portfolio_shares(PortfolioShareType="AWS_ORGANIZATIONS")["PortfolioDetails"]
    assert [p["Id"] for p in accepted] == [portfolio_id]

    # -- end user: search, launch, look at the real bucket -------------------------------------------
    summaries = end_user.search_products()["ProductViewSummaries"]
    assert [s["ProductId"] for s in summaries] == [product_id]
    product = end_user.describe_product(Id=product_id)
    assert {a["Id"] for a in product["ProvisioningArtifacts"]} == {v1, v2, v3}
    paths = end_user.list_launch_paths(ProductId=product_id)["LaunchPathSummaries"]
    assert len(paths) == 1 and paths[0]["ConstraintSummaries"] == [{"Type": "LAUNCH"}]

    record = end_user.provision_product(
        ProductId=product_id, ProvisioningArtifactId=v2, PathId=paths[0]["Id"],
        ProvisionedProductName="team-a-bucket",
        ProvisioningParameters=[{"Key": "NoncurrentVersionDays", "Value": "30"}],
        Tags=[{"Key": "team", "Value": "a"}], ProvisionToken=token(),
    )["RecordDetail"]
    assert record["Status"] == "SUCCEEDED", record
    assert record["RecordType"] == "PROVISION_PRODUCT"
    assert record["LaunchRoleArn"] == f"arn:aws:iam::{member.account_id}:role/SCLaunchRole"
    pp_id = record["ProvisionedProductId"]

    outputs = {o["OutputKey"]: o["OutputValue"] for o in end_user.describe_record(Id=record["RecordId"])["RecordOutputs"]}
    bucket = outputs["BucketName"]
    member.client("s3").head_bucket(Bucket=bucket)  # the bucket is real, in the member account
    encryption = member.client("s3").get_bucket_encryption(Bucket=bucket)
    assert encryption["ServerSideEncryptionConfiguration"]["Rules"][0]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    stack_arn = outputs["CloudformationStackARN"]
    stack = member.client("cloudformation").describe_stacks(StackName=stack_arn)["Stacks"][0]
    assert stack["StackName"] == f"SC-{member.account_id}-{pp_id}"
    assert stack["StackStatus"] == "CREATE_COMPLETE"

    detail = end_user.describe_provisioned_product(Id=pp_id)["ProvisionedProductDetail"]
    assert (detail["Status"], detail["ProvisioningArtifactId"]) == ("AVAILABLE", v2)
    searched = end_user.search_provisioned_products(Filters={"SearchQuery": ["name:team-a-bucket"]})
    assert [p["Id"] for p in searched["ProvisionedProducts"]] == [pp_id]
    assert searched["ProvisionedProducts"][0]["PhysicalId"] == stack_arn
    assert [p["Id"] for p in end_user.scan_provisioned_products()["ProvisionedProducts"]] == [pp_id]
    got = end_user.get_provisioned_product_outputs(ProvisionedProductId=pp_id, OutputKeys=["BucketArn"])["Outputs"]
    assert got == [{"OutputKey": "BucketArn", "OutputValue": f"arn:aws:s3:::{bucket}"}]

    # -- update to v3, then terminate ------------------------------------------------------------
    updated = end_user.update_provisioned_product(
        ProvisionedProductId=pp_id, ProvisioningArtifactId=v3,
        ProvisioningParameters=[{"Key": "NoncurrentVersionDays", "UsePreviousValue": True}], UpdateToken=token(),
    )["RecordDetail"]
    assert (updated["Status"], updated["RecordType"]) == ("SUCCEEDED", "UPDATE_PROVISIONED_PRODUCT")
    assert end_user.describe_provisioned_product(Id=pp_id)["ProvisionedProductDetail"]["ProvisioningArtifactId"] == v3

    terminated = end_user.terminate_provisioned_product(ProvisionedProductId=pp_id, TerminateToken=token())["RecordDetail"]
    assert (terminated["Status"], terminated["RecordType"]) == ("SUCCEEDED", "TERMINATE_PROVISIONED_PRODUCT")
    assert end_user.describe_record(Id=terminated["RecordId"])["RecordDetail"]["Status"] == "SUCCEEDED"
    with pytest.raises(end_user.exceptions.ResourceNotFoundException):
        end_user.describe_provisioned_product(Id=pp_id)
    stacks = member.client("cloudformation").list_stacks()["StackSummaries"]
    assert [s["StackStatus"] for s in stacks if s["StackId"] == stack_arn] == ["DELETE_COMPLETE"]
    history = end_user.list_record_history(SearchFilter={"Key": "provisionedproduct", "Value": pp_id})["RecordDetails"]
    assert [r["RecordType"] for r in history] == [
        "TERMINATE_PROVISIONED_PRODUCT", "UPDATE_PROVISIONED_PRODUCT", "PROVISION_PRODUCT"
    ]

    # -- tidy up in dependency order: each step is refused while something still depends on it -----
    with pytest.raises(sc.exceptions.ResourceInUseException):
        sc.delete_portfolio(Id=portfolio_id)
    sc.delete_portfolio_share(PortfolioId=portfolio_id, OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": ou_id})
    assert end_user.search_products()["ProductViewSummaries"] == []
    sc.delete_constraint(Id=constraint_id)
    sc.disassociate_product_from_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    for principal in sc.list_principals_for_portfolio(PortfolioId=portfolio_id)["Principals"]:
        sc.disassociate_principal_from_portfolio(PortfolioId=portfolio_id, PrincipalARN=principal["PrincipalARN"])
    sc.delete_portfolio(Id=portfolio_id)
    sc.delete_product(Id=product_id)
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.describe_product_as_admin(Id=product_id)


def test_tag_options_attach_to_portfolios_and_products(catalog: Catalog) -> None:
    sc = catalog.admin
    portfolio_id = _portfolio(sc)
    product_id = _product(sc, catalog.urls[0], name="tagged")["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
    key = f"cost-center-{token()[:6]}"
    option = sc.create_tag_option(Key=key, Value="1234")["TagOptionDetail"]
    with pytest.raises(sc.exceptions.DuplicateResourceException):
        sc.create_tag_option(Key=key, Value="1234")
    assert sc.describe_tag_option(Id=option["Id"])["TagOptionDetail"] == option
    assert [o["Id"] for o in sc.list_tag_options(Filters={"Key": key})["TagOptionDetails"]] == [option["Id"]]
    sc.associate_tag_option_with_resource(ResourceId=portfolio_id, TagOptionId=option["Id"])
    sc.associate_tag_option_with_resource(ResourceId=product_id, TagOptionId=option["Id"])
    with pytest.raises(sc.exceptions.DuplicateResourceException):
        sc.associate_tag_option_with_resource(ResourceId=product_id, TagOptionId=option["Id"])
    assert [o["Id"] for o in sc.describe_portfolio(Id=portfolio_id)["TagOptions"]] == [option["Id"]]
    assert [o["Id"] for o in sc.describe_product_as_admin(Id=product_id)["TagOptions"]] == [option["Id"]]
    sc.disassociate_tag_option_from_resource(ResourceId=product_id, TagOptionId=option["Id"])
    assert sc.describe_product_as_admin(Id=product_id)["TagOptions"] == []
    with pytest.raises(sc.exceptions.ResourceNotFoundException):
        sc.disassociate_tag_option_from_resource(ResourceId=product_id, TagOptionId=option["Id"])


def test_portfolio_and_product_updates(catalog: Catalog) -> None:
    sc = catalog.admin
    portfolio_id = _portfolio(sc)
    updated = sc.update_portfolio(Id=portfolio_id, Description="for teams", AddTags=[{"Key": "env", "Value": "prod"}])
    assert updated["PortfolioDetail"]["Description"] == "for teams"
    assert updated["Tags"] == [{"Key": "env", "Value": "prod"}]
    product_id = _product(sc, catalog.urls[1], name="renamed-later")["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
    view = sc.update_product(Id=product_id, Name="renamed", SupportEmail="platform@example.com")["ProductViewDetail"]
    assert (view["ProductViewSummary"]["Name"], view["ProductViewSummary"]["SupportEmail"]) == ("renamed", "platform@example.com")
    assert sc.describe_product_as_admin(Name="renamed")["ProductViewDetail"]["ProductViewSummary"]["ProductId"] == product_id


def test_account_share_needs_imported_acceptance(catalog: Catalog) -> None:
    sc = catalog.admin
    member = Member(catalog.endpoint_url)
    portfolio_id = _portfolio(sc)
    product_id = _product(sc, catalog.urls[0], name="direct-share")["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
    sc.associate_product_with_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    assert "PortfolioShareToken" not in sc.create_portfolio_share(PortfolioId=portfolio_id, AccountId=member.account_id)
    end_user = member.client("servicecatalog")
    with pytest.raises(end_user.exceptions.ResourceNotFoundException):
        end_user.accept_portfolio_share(PortfolioId=portfolio_id, PortfolioShareType="AWS_ORGANIZATIONS")
    end_user.accept_portfolio_share(PortfolioId=portfolio_id)
    shares = sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type="ACCOUNT")["PortfolioShareDetails"]
    assert [(s["PrincipalId"], s["Accepted"]) for s in shares] == [(member.account_id, True)]
    assert sc.list_portfolio_access(PortfolioId=portfolio_id)["AccountIds"] == [member.account_id]
    # No principals on this portfolio: every identity of the importing account may launch.
    assert [s["ProductId"] for s in end_user.search_products()["ProductViewSummaries"]] == [product_id]
    end_user.reject_portfolio_share(PortfolioId=portfolio_id)
    assert end_user.search_products()["ProductViewSummaries"] == []
    assert sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type="ACCOUNT")["PortfolioShareDetails"] == []


def test_state_lives_per_account_and_region_in_motos_backend_dict(member) -> None:
    from localaws.servicecatalog.models import servicecatalog_backends

    sc = member.client("servicecatalog")
    portfolio_id = sc.create_portfolio(DisplayName="mine", ProviderName="me",
                                       IdempotencyToken=uuid.uuid4().hex)["PortfolioDetail"]["Id"]
    assert portfolio_id in servicecatalog_backends[member.account_id]["us-east-1"].portfolios
    assert portfolio_id not in servicecatalog_backends[member.account_id]["eu-west-1"].portfolios
    others = [b for account, _, b in servicecatalog_backends.iter_backends() if account != member.account_id]
    assert all(portfolio_id not in b.portfolios for b in others)
    sc.delete_portfolio(Id=portfolio_id)
    assert portfolio_id not in servicecatalog_backends[member.account_id]["us-east-1"].portfolios
