"""Portfolios and their principal associations (API reference: CreatePortfolio ... ListPrincipalsForPortfolio)."""

from __future__ import annotations

import re
from typing import Any

from localaws.request import Caller

from ..exceptions import InvalidParametersException, ResourceInUseException, ResourceNotFoundException
from ..models import Catalog, Portfolio, Principal, new_id, tag_list
from ..registry import operation, paginate, required, tags_from
from ..access import account_can_use, effective_principals

_PRINCIPAL_IAM = re.compile(r"^arn:[\w-]+:iam::\d{12}:(user|role|group)/.+$")
_PRINCIPAL_PATTERN = re.compile(r"^arn:[\w-]+:iam:::(user|role|group)/.+$")


def _detail_with_tags(catalog: Catalog, portfolio: Portfolio) -> dict[str, Any]:
    return {"PortfolioDetail": portfolio.detail(), "Tags": tag_list(portfolio.tags)}


@operation("CreatePortfolio")
def create_portfolio(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "DisplayName", "ProviderName", "IdempotencyToken")

    def make() -> str:
        portfolio = Portfolio(
            id=new_id("port"),
            account=caller.account,
            region=caller.region,
            partition=caller.partition,
            display_name=params["DisplayName"],
            provider_name=params["ProviderName"],
            description=params.get("Description"),
            tags=tags_from(params.get("Tags")),
        )
        catalog.portfolios[portfolio.id] = portfolio
        return portfolio.id

    portfolio_id = catalog.once(caller, "CreatePortfolio", params["IdempotencyToken"], make)
    return _detail_with_tags(catalog, catalog.own_portfolio(caller, portfolio_id))


@operation("DescribePortfolio")
def describe_portfolio(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Owners and accounts that imported the portfolio may describe it."""
    required(params, "Id")
    portfolio = catalog.regional_portfolio(caller, params["Id"])
    if not account_can_use(catalog, portfolio, caller):
        raise ResourceNotFoundException(f"Portfolio {params['Id']} not found.")
    out = _detail_with_tags(catalog, portfolio)
    out["TagOptions"] = [
        catalog.tag_options[t].detail() for t in catalog.tag_option_links.get(portfolio.id, []) if t in catalog.tag_options
    ]
    out["Budgets"] = []
    return out


@operation("ListPortfolios")
def list_portfolios(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Portfolios the account owns (imported ones are ListAcceptedPortfolioShares)."""
    owned = [
        p.detail()
        for p in sorted(catalog.portfolios.values(), key=lambda p: p.created)
        if p.account == caller.account and p.region == caller.region
    ]
    return paginate(owned, params, "PortfolioDetails")


@operation("UpdatePortfolio")
def update_portfolio(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "Id")
    portfolio = catalog.own_portfolio(caller, params["Id"])
    for field, attr in (("DisplayName", "display_name"), ("Description", "description"), ("ProviderName", "provider_name")):
        if params.get(field) is not None:
            setattr(portfolio, attr, params[field])
    for key in params.get("RemoveTags") or []:
        portfolio.tags.pop(key, None)
    portfolio.tags.update(tags_from(params.get("AddTags")))
    return _detail_with_tags(catalog, portfolio)


@operation("DeletePortfolio")
def delete_portfolio(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """"You cannot delete a portfolio if it was shared with you or if it has associated
    products, users, constraints, or shared accounts." (API reference)"""
    required(params, "Id")
    portfolio = catalog.own_portfolio(caller, params["Id"])
    in_use = []
    if portfolio.product_ids:
        in_use.append("products")
    if catalog.principals.get((caller.account, portfolio.id)):
        in_use.append("principals")
    if catalog.shares.get(portfolio.id):
        in_use.append("shares")
    if catalog.constraints_for(portfolio.id):
        in_use.append("constraints")
    if in_use:
        raise ResourceInUseException(
            f"Portfolio {portfolio.id} has associated {', '.join(in_use)}; disassociate them first."
        )
    del catalog.portfolios[portfolio.id]
    catalog.tag_option_links.pop(portfolio.id, None)
    return {}


def _usable_portfolio(catalog: Catalog, caller: Caller, portfolio_id: str) -> Portfolio:
    """Principals can be associated with owned portfolios and with imported ones."""
    portfolio = catalog.regional_portfolio(caller, portfolio_id)
    if not account_can_use(catalog, portfolio, caller):
        raise ResourceNotFoundException(f"Portfolio {portfolio_id} not found.")
    return portfolio


@operation("AssociatePrincipalWithPortfolio")
def associate_principal(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """IAM takes a full ARN of this account; IAM_PATTERN an ARN with no account id and an
    optional wildcard name, e.g. ``arn:aws:iam:::role/Team*`` (API reference)."""
    required(params, "PortfolioId", "PrincipalARN", "PrincipalType")
    portfolio = _usable_portfolio(catalog, caller, params["PortfolioId"])
    arn, kind = params["PrincipalARN"], params["PrincipalType"]
    if kind == "IAM":
        if not _PRINCIPAL_IAM.match(arn) or arn.split(":")[4] != caller.account:
            raise InvalidParametersException(f"Invalid IAM principal ARN {arn} for account {caller.account}.")
    elif kind == "IAM_PATTERN":
        if not _PRINCIPAL_PATTERN.match(arn):
            raise InvalidParametersException(f"Invalid IAM_PATTERN principal {arn}: the account id must be empty.")
    else:
        raise InvalidParametersException(f"Invalid PrincipalType {kind}.")
    principals = catalog.principals.setdefault((caller.account, portfolio.id), [])
    if not any(p.arn == arn for p in principals):
        principals.append(Principal(arn=arn, type=kind))
    return {}


@operation("DisassociatePrincipalFromPortfolio")
def disassociate_principal(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId", "PrincipalARN")
    portfolio = _usable_portfolio(catalog, caller, params["PortfolioId"])
    principals = catalog.principals.get((caller.account, portfolio.id), [])
    kept = [p for p in principals if p.arn != params["PrincipalARN"]]
    if len(kept) == len(principals):
        raise ResourceNotFoundException(f"Principal {params['PrincipalARN']} is not associated with {portfolio.id}.")
    catalog.principals[(caller.account, portfolio.id)] = kept
    return {}


@operation("ListPrincipalsForPortfolio")
def list_principals(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    portfolio = _usable_portfolio(catalog, caller, params["PortfolioId"])
    # Recipients of a share with SharePrincipals also see the sharer's IAM_PATTERN principals.
    principals = [
        {"PrincipalARN": p.arn, "PrincipalType": p.type}
        for p in effective_principals(catalog, portfolio, caller.account)
    ]
    return paginate(principals, params, "Principals")
