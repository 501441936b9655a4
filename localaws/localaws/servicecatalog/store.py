"""The one in-memory Service Catalog, shared by every account and region, behind one lock.

Service Catalog is regional and per account, but portfolios cross accounts when shared, so the
store holds every resource once (ids are globally unique) and each lookup filters by the caller's
region and by what the caller's account may see.  One re-entrant lock guards it all: the server is
threaded and operations touch several indexes at once.  Calls into moto's CloudFormation backend
are made outside the lock (see provisioning.py) so a slow stack does not stall the catalog.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Callable

from .caller import Caller
from .errors import ResourceNotFoundException
from .models import (
    Constraint,
    Portfolio,
    Principal,
    Product,
    ProvisionedProduct,
    Record,
    Share,
    TagOption,
)


@dataclass
class ShareStatus:
    """What DescribePortfolioShareStatus reports for a PortfolioShareToken."""

    token: str
    portfolio_id: str
    node_value: str
    accounts: list[str]
    status: str = "COMPLETED"


@dataclass
class Catalog:
    lock: threading.RLock = field(default_factory=threading.RLock)
    portfolios: dict[str, Portfolio] = field(default_factory=dict)
    products: dict[str, Product] = field(default_factory=dict)
    constraints: dict[str, Constraint] = field(default_factory=dict)
    shares: dict[str, list[Share]] = field(default_factory=dict)  # by portfolio id
    share_status: dict[str, ShareStatus] = field(default_factory=dict)  # by token
    # (recipient account, portfolio id) -> PortfolioShareType it was accepted with
    accepted: dict[tuple[str, str], str] = field(default_factory=dict)
    # (associating account, portfolio id) -> principals; recipients associate their own
    principals: dict[tuple[str, str], list[Principal]] = field(default_factory=dict)
    tag_options: dict[str, TagOption] = field(default_factory=dict)
    tag_option_links: dict[str, list[str]] = field(default_factory=dict)  # resource id -> ids
    provisioned: dict[str, ProvisionedProduct] = field(default_factory=dict)
    records: dict[str, Record] = field(default_factory=dict)
    idempotency: dict[tuple[str, ...], Any] = field(default_factory=dict)
    organizations_access: set[str] = field(default_factory=set)  # management account ids
    # Control Tower's Account Factory (account_factory.py): management account -> product id, and
    # the account each Account Factory record is vending, by record id.
    account_factory: dict[str, str] = field(default_factory=dict)
    account_requests: dict[str, Any] = field(default_factory=dict)
    endpoint_url: str | None = None  # this server's own endpoint, for calls through its HTTP API

    def reset(self) -> None:
        with self.lock:
            fresh = Catalog()
            for name in self.__dataclass_fields__:
                if name != "lock":
                    setattr(self, name, getattr(fresh, name))

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


CATALOG = Catalog()
