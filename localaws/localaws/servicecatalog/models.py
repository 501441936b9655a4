"""Service Catalog resources and their wire shapes (botocore ``servicecatalog`` service-2.json).

Each resource knows its owner account and region, and is kept in the backend of that account and
region (``servicecatalog_backends``, moto's ``BackendDict``).  Ids are globally unique, as in AWS,
because shared portfolios and their products are addressed by the same id from recipient accounts.
Timestamps are datetimes here and epoch seconds on the wire (JSON 1.1 protocol).
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from moto.core.base_backend import BackendDict, BaseBackend

from localaws.request import Caller

from .exceptions import ResourceNotFoundException

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


@dataclass
class ShareStatus:
    """What DescribePortfolioShareStatus reports for a PortfolioShareToken."""

    token: str
    portfolio_id: str
    node_value: str
    accounts: list[str]
    status: str = "COMPLETED"


# -- the state: per account and Region, in moto's BackendDict ----------------------------------------
class ServiceCatalogBackend(BaseBackend):
    """One account's Service Catalog in one Region, as moto keeps a service's state: in a
    ``BackendDict``, so moto's reset (``POST /moto-api/reset``) forgets it with every other service."""

    def __init__(self, region_name: str, account_id: str) -> None:
        super().__init__(region_name, account_id)
        self.portfolios: dict[str, Portfolio] = {}
        self.products: dict[str, Product] = {}
        self.constraints: dict[str, Constraint] = {}
        self.shares: dict[str, list[Share]] = {}  # by the id of a portfolio of this account
        self.share_status: dict[str, ShareStatus] = {}  # by token
        # (this account as recipient, portfolio id) -> PortfolioShareType it was accepted with
        self.accepted: dict[tuple[str, str], str] = {}
        # (this account, portfolio id) -> principals; recipients associate their own
        self.principals: dict[tuple[str, str], list[Principal]] = {}
        self.tag_options: dict[str, TagOption] = {}
        self.tag_option_links: dict[str, list[str]] = {}  # id of a resource of this account -> ids
        self.provisioned: dict[str, ProvisionedProduct] = {}
        self.records: dict[str, Record] = {}
        self.idempotency: dict[tuple[str, ...], Any] = {}
        self.organizations_access = False  # EnableAWSOrganizationsAccess called here
        # Control Tower's Account Factory (account_factory.py): this management account -> product
        # id, and the account each Account Factory record is vending, by record id.
        self.account_factory: dict[str, str] = {}
        self.account_requests: dict[str, Any] = {}


servicecatalog_backends: BackendDict[ServiceCatalogBackend] = BackendDict(ServiceCatalogBackend, "servicecatalog")

Home = Callable[[Any, Any], "tuple[str, str]"]  # (key, value) -> (account, Region) that owns the entry


class _Spread(MutableMapping):
    """One index of the catalog (portfolios, shares, ...) as a single mapping, its entries kept in
    the backend of the account and Region that own them (``home``).

    Service Catalog crosses accounts (a shared portfolio is read by its recipients, a recipient's
    acceptance names the sharer's portfolio), so lookups look in every backend; ids are unique.
    """

    def __init__(self, backends: BackendDict, attribute: str, home: Home) -> None:
        self._backends, self._attribute, self._home = backends, attribute, home

    def _parts(self) -> list[dict]:
        return [getattr(backend, self._attribute) for _, _, backend in list(self._backends.iter_backends())]

    def __getitem__(self, key: Any) -> Any:
        for part in self._parts():
            if key in part:
                return part[key]
        raise KeyError(key)

    def __setitem__(self, key: Any, value: Any) -> None:
        for part in self._parts():
            if key in part:
                part[key] = value
                return
        account, region = self._home(key, value)
        getattr(self._backends[account][region], self._attribute)[key] = value

    def __delitem__(self, key: Any) -> None:
        for part in self._parts():
            if key in part:
                del part[key]
                return
        raise KeyError(key)

    def __iter__(self) -> Iterator[Any]:
        return iter([key for part in self._parts() for key in part])

    def __len__(self) -> int:
        return sum(len(part) for part in self._parts())


class Catalog:
    """The operations' view of Service Catalog: every index across accounts and Regions, over the
    per-account, per-Region backends. One re-entrant lock serializes the operations (the server is
    threaded and an operation touches several indexes at once); calls into moto's CloudFormation
    backend are made outside it (see stacks.py) so a slow stack does not stall the catalog."""

    # One for the process, as the backends are: every view (one per extension) shares it.
    lock = threading.RLock()

    def __init__(self, backends: BackendDict | None = None) -> None:
        self.backends = backends if backends is not None else servicecatalog_backends
        owner: Home = lambda key, value: (value.account, value.region)  # noqa: E731
        for name in ("portfolios", "products", "constraints", "tag_options", "provisioned", "records"):
            setattr(self, name, _Spread(self.backends, name, owner))
        self.shares = _Spread(self.backends, "shares", lambda key, value: self._portfolio_home(key))
        self.share_status = _Spread(self.backends, "share_status",
                                    lambda key, value: self._portfolio_home(value.portfolio_id))
        self.accepted = _Spread(self.backends, "accepted",
                                lambda key, value: (key[0], self._portfolio_home(key[1])[1]))
        self.principals = _Spread(self.backends, "principals",
                                  lambda key, value: (key[0], self._portfolio_home(key[1])[1]))
        self.tag_option_links = _Spread(self.backends, "tag_option_links", lambda key, value: self._resource_home(key))
        self.idempotency = _Spread(self.backends, "idempotency", lambda key, value: (key[0], key[1]))
        self.account_factory = _Spread(self.backends, "account_factory",
                                       lambda key, value: owner(None, self.products[value]))
        self.account_requests = _Spread(self.backends, "account_requests",
                                        lambda key, value: owner(None, self.records[key]))
        self.endpoint_url: str | None = None  # this server's own endpoint, for calls through its HTTP API

    def _portfolio_home(self, portfolio_id: str) -> tuple[str, str]:
        portfolio = self.portfolios[portfolio_id]
        return portfolio.account, portfolio.region

    def _resource_home(self, resource_id: str) -> tuple[str, str]:
        resource = self.portfolios.get(resource_id) or self.products[resource_id]
        return resource.account, resource.region

    # -- AWS Organizations access (trusted access: the management account's, in every Region) -----
    def organizations_access(self, account: str) -> bool:
        return any(backend.organizations_access for acct, _, backend in list(self.backends.iter_backends())
                   if acct == account)

    def set_organizations_access(self, caller: Caller, enabled: bool) -> None:
        if enabled:
            self.backends[caller.account][caller.region].organizations_access = True
            return
        for acct, _, backend in list(self.backends.iter_backends()):
            if acct == caller.account:
                backend.organizations_access = False

    # -- idempotency -------------------------------------------------------------------------

    def once(self, caller: Caller, operation: str, token: str | None, make: Callable[[], Any]) -> Any:
        """Run ``make`` once per (account, region, operation, token).

        AWS returns the original result when a request is retried with the same
        IdempotencyToken / ProvisionToken instead of creating a second resource.
        """
        if not token:
            return make()
        key = (caller.account, caller.region, operation, token)
        if key not in self.idempotency:
            self.idempotency[key] = make()
        return self.idempotency[key]

    # -- owned-resource lookups --------------------------------------------------------------

    def own_portfolio(self, caller: Caller, portfolio_id: str) -> Portfolio:
        portfolio = self.portfolios.get(portfolio_id)
        if portfolio is None or portfolio.account != caller.account or portfolio.region != caller.region:
            raise ResourceNotFoundException(f"Portfolio {portfolio_id} not found.")
        return portfolio

    def own_product(self, caller: Caller, product_id: str) -> Product:
        product = self.products.get(product_id)
        if product is None or product.account != caller.account or product.region != caller.region:
            raise ResourceNotFoundException(f"Product {product_id} not found.")
        return product

    def regional_portfolio(self, caller: Caller, portfolio_id: str) -> Portfolio:
        portfolio = self.portfolios.get(portfolio_id)
        if portfolio is None or portfolio.region != caller.region:
            raise ResourceNotFoundException(f"Portfolio {portfolio_id} not found.")
        return portfolio

    def constraints_for(self, portfolio_id: str, product_id: str | None = None) -> list[Constraint]:
        return [
            c
            for c in self.constraints.values()
            if c.portfolio_id == portfolio_id and (product_id is None or c.product_id == product_id)
        ]
