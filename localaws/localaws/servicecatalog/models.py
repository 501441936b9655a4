"""Service Catalog resources and their wire shapes (botocore ``servicecatalog`` service-2.json).

Each resource knows its owner account and region.  Ids are globally unique, as in AWS, because
shared portfolios and their products are addressed by the same id from recipient accounts.
Timestamps are datetimes here and epoch seconds on the wire (JSON 1.1 protocol).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

_ALPHABET = string.ascii_lowercase + string.digits


def new_id(prefix: str, length: int = 13) -> str:
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


def now() -> datetime:
    return datetime.now(timezone.utc)


def epoch(value: datetime) -> float:
    return value.timestamp()


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


@dataclass
class Portfolio:
    id: str
    account: str
    region: str
    partition: str
    display_name: str
    provider_name: str
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=now)
    product_ids: list[str] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:catalog:{self.region}:{self.account}:portfolio/{self.id}"

    def detail(self) -> dict[str, Any]:
        out = {
            "Id": self.id,
            "ARN": self.arn,
            "DisplayName": self.display_name,
            "CreatedTime": epoch(self.created),
            "ProviderName": self.provider_name,
        }
        if self.description is not None:
            out["Description"] = self.description
        return out

    @property
    def launch_path_id(self) -> str:
        # AWS has one launch path per portfolio giving access to a product; deriving the path
        # id from the portfolio id keeps it stable without a second index.
        return "lpv3-" + self.id.split("-", 1)[1]


@dataclass
class ProvisioningArtifact:
    id: str
    name: str | None
    description: str | None
    type: str
    template: str
    template_url: str
    created: datetime = field(default_factory=now)
    active: bool = True
    guidance: str = "DEFAULT"

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.id,
            "Type": self.type,
            "CreatedTime": epoch(self.created),
            "Active": self.active,
            "Guidance": self.guidance,
        }
        if self.name is not None:
            out["Name"] = self.name
        if self.description is not None:
            out["Description"] = self.description
        return out

    def summary(self) -> dict[str, Any]:
        """ProvisioningArtifact (end-user view in DescribeProduct)."""
        out = {k: v for k, v in self.detail().items() if k in ("Id", "Name", "Description", "CreatedTime", "Guidance")}
        return out

    def admin_summary(self) -> dict[str, Any]:
        """ProvisioningArtifactSummary (DescribeProductAsAdmin)."""
        out = {k: v for k, v in self.detail().items() if k in ("Id", "Name", "Description", "CreatedTime")}
        out["ProvisioningArtifactMetadata"] = {"TemplateUrl": self.template_url}
        return out


@dataclass
class Product:
    id: str
    view_id: str
    account: str
    region: str
    partition: str
    name: str
    owner: str
    type: str
    description: str | None = None
    distributor: str | None = None
    support_description: str | None = None
    support_email: str | None = None
    support_url: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    created: datetime = field(default_factory=now)
    artifacts: list[ProvisioningArtifact] = field(default_factory=list)

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:catalog:{self.region}:{self.account}:product/{self.id}"

    def artifact(self, artifact_id: str | None = None, name: str | None = None) -> ProvisioningArtifact | None:
        for artifact in self.artifacts:
            if (artifact_id and artifact.id == artifact_id) or (
                not artifact_id and name and artifact.name == name
            ):
                return artifact
        return None

    def view_summary(self, has_default_path: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Id": self.view_id,
            "ProductId": self.id,
            "Name": self.name,
            "Owner": self.owner,
            "Type": self.type,
            "HasDefaultPath": has_default_path,
        }
        optional = {
            "ShortDescription": self.description,
            "Distributor": self.distributor,
            "SupportDescription": self.support_description,
            "SupportEmail": self.support_email,
            "SupportUrl": self.support_url,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def view_detail(self) -> dict[str, Any]:
        return {
            "ProductViewSummary": self.view_summary(),
            "Status": "AVAILABLE",
            "ProductARN": self.arn,
            "CreatedTime": epoch(self.created),
        }


@dataclass
class Constraint:
    id: str
    account: str
    region: str
    type: str
    portfolio_id: str
    product_id: str
    parameters: str
    description: str | None = None

    def detail(self) -> dict[str, Any]:
        out = {
            "ConstraintId": self.id,
            "Type": self.type,
            "Owner": self.account,
            "ProductId": self.product_id,
            "PortfolioId": self.portfolio_id,
        }
        if self.description is not None:
            out["Description"] = self.description
        return out


@dataclass
class Share:
    """One CreatePortfolioShare target.

    ``type`` is the DescribePortfolioShares type: ACCOUNT for a plain AccountId share,
    ORGANIZATION / ORGANIZATIONAL_UNIT / ORGANIZATION_MEMBER_ACCOUNT for organization nodes.
    """

    portfolio_id: str
    type: str
    principal_id: str
    token: str | None
    share_tag_options: bool = False
    share_principals: bool = False

    @property
    def via_organizations(self) -> bool:
        return self.type != "ACCOUNT"

    @property
    def node_type(self) -> str:
        return "ACCOUNT" if self.type == "ORGANIZATION_MEMBER_ACCOUNT" else self.type


@dataclass
class Principal:
    arn: str
    type: str


@dataclass
class TagOption:
    id: str
    account: str
    region: str
    key: str
    value: str
    active: bool = True

    def detail(self) -> dict[str, Any]:
        return {"Key": self.key, "Value": self.value, "Active": self.active, "Id": self.id, "Owner": self.account}


@dataclass
class Record:
    id: str
    account: str
    region: str
    record_type: str
    provisioned_product_id: str
    provisioned_product_name: str
    product_id: str
    artifact_id: str
    path_id: str | None
    user_arn: str
    status: str = "CREATED"
    created: datetime = field(default_factory=now)
    updated: datetime = field(default_factory=now)
    errors: list[dict[str, str]] = field(default_factory=list)
    tags: dict[str, str] = field(default_factory=dict)
    launch_role_arn: str | None = None
    outputs: list[dict[str, str]] = field(default_factory=list)
    product_type: str = "CFN_STACK"  # CONTROL_TOWER_ACCOUNT for the Account Factory

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RecordId": self.id,
            "ProvisionedProductName": self.provisioned_product_name,
            "Status": self.status,
            "CreatedTime": epoch(self.created),
            "UpdatedTime": epoch(self.updated),
            "ProvisionedProductType": self.product_type,
            "RecordType": self.record_type,
            "ProvisionedProductId": self.provisioned_product_id,
            "ProductId": self.product_id,
            "ProvisioningArtifactId": self.artifact_id,
            "RecordErrors": list(self.errors),
            "RecordTags": tag_list(self.tags),
        }
        if self.path_id:
            out["PathId"] = self.path_id
        if self.launch_role_arn:
            out["LaunchRoleArn"] = self.launch_role_arn
        return out


@dataclass
class ProvisionedProduct:
    id: str
    account: str
    region: str
    partition: str
    name: str
    product_id: str
    product_name: str
    artifact_id: str
    artifact_name: str | None
    path_id: str | None
    portfolio_id: str
    user_arn: str
    idempotency_token: str
    parameters: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "UNDER_CHANGE"
    status_message: str | None = None
    created: datetime = field(default_factory=now)
    stack_id: str | None = None
    launch_role_arn: str | None = None
    last_record_id: str | None = None
    last_provisioning_record_id: str | None = None
    last_successful_record_id: str | None = None
    type: str = "CFN_STACK"  # CONTROL_TOWER_ACCOUNT for the Account Factory
    physical_id: str | None = None  # what it stands for when that is not a stack (the vended account id)

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:servicecatalog:{self.region}:{self.account}:stack/{self.name}/{self.id}"

    @property
    def stack_name(self) -> str:
        return f"SC-{self.account}-{self.id}"

    def detail(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "Name": self.name,
            "Arn": self.arn,
            "Type": self.type,
            "Id": self.id,
            "Status": self.status,
            "CreatedTime": epoch(self.created),
            "IdempotencyToken": self.idempotency_token,
            "ProductId": self.product_id,
            "ProvisioningArtifactId": self.artifact_id,
        }
        optional = {
            "StatusMessage": self.status_message,
            "LastRecordId": self.last_record_id,
            "LastProvisioningRecordId": self.last_provisioning_record_id,
            "LastSuccessfulProvisioningRecordId": self.last_successful_record_id,
            "LaunchRoleArn": self.launch_role_arn,
        }
        out.update({k: v for k, v in optional.items() if v is not None})
        return out

    def attributes(self) -> dict[str, Any]:
        """ProvisionedProductAttribute (SearchProvisionedProducts)."""
        out = self.detail()
        out.pop("LaunchRoleArn", None)
        out["Tags"] = tag_list(self.tags)
        out["ProductName"] = self.product_name
        out["UserArn"] = self.user_arn
        out["UserArnSession"] = self.user_arn
        if self.physical_id or self.stack_id:
            out["PhysicalId"] = self.physical_id or self.stack_id
        if self.artifact_name is not None:
            out["ProvisioningArtifactName"] = self.artifact_name
        return out
