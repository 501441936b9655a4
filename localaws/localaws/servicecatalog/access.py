"""Who may use a portfolio: the end-user access rules behind SearchProducts and ProvisionProduct.

AWS Service Catalog (Administrator Guide, "Granting access to users"; "Sharing a portfolio"):
- a portfolio is usable in its own account, or in a recipient account once the share has been
  accepted (AcceptPortfolioShare with IMPORTED for account shares, AWS_ORGANIZATIONS for
  organization-node shares) and while the share still covers that account;
- end users need a principal association on the portfolio in their account; with
  SharePrincipals=true the sharer's IAM_PATTERN principals apply in recipient accounts too.

Deviation, on purpose: a portfolio with no principal associations at all is open to every
identity of an account that can use it (AWS would show it to nobody); this keeps admin scripts
that never associate principals working locally.
"""

from __future__ import annotations

import fnmatch
import re

from localaws.request import Caller

from . import membership
from .models import Catalog, Portfolio, Principal, Product, Share

_IAM_ARN = re.compile(r"^arn:[\w-]+:iam::(\d{12})?:(user|role|group)/(.+)$")


def share_covering(catalog: Catalog, portfolio: Portfolio, account: str) -> Share | None:
    """The share of ``portfolio`` that reaches ``account``, account shares first."""
    shares = catalog.shares.get(portfolio.id, [])
    for share in shares:
        if share.type == "ACCOUNT" and share.principal_id == account:
            return share
    for share in shares:
        if share.via_organizations and membership.in_node(
            portfolio.account, portfolio.partition, share.node_type, share.principal_id, account
        ):
            return share
    return None


def accepted_share(catalog: Catalog, portfolio: Portfolio, account: str) -> Share | None:
    accepted_as = catalog.accepted.get((account, portfolio.id))
    if accepted_as is None:
        return None
    share = share_covering(catalog, portfolio, account)
    if share is None:
        return None
    return share if (accepted_as == "AWS_ORGANIZATIONS") == share.via_organizations else None


def account_can_use(catalog: Catalog, portfolio: Portfolio, caller: Caller) -> bool:
    if portfolio.region != caller.region:
        return False
    return portfolio.account == caller.account or accepted_share(catalog, portfolio, caller.account) is not None


def effective_principals(catalog: Catalog, portfolio: Portfolio, account: str) -> list[Principal]:
    principals = list(catalog.principals.get((account, portfolio.id), []))
    if account != portfolio.account:
        share = accepted_share(catalog, portfolio, account)
        if share is not None and share.share_principals:
            principals += [
                p for p in catalog.principals.get((portfolio.account, portfolio.id), []) if p.type == "IAM_PATTERN"
            ]
    return principals


def principal_matches(principal: Principal, caller: Caller) -> bool:
    match = _IAM_ARN.match(principal.arn)
    if match is None:
        return False
    account, kind, name = match.groups()
    if kind == "role":
        if not caller.role_arn:
            return False
        caller_match = _IAM_ARN.match(caller.role_arn)
        caller_name = caller_match.group(3) if caller_match else caller.role_name or ""
    elif kind == "user":
        caller_match = _IAM_ARN.match(caller.arn)
        if caller_match is None or caller_match.group(2) != "user":
            return False
        caller_name = caller_match.group(3)
    else:
        # Group membership is not resolved locally.
        return False
    if principal.type == "IAM":
        return account == caller.account and (
            name == caller_name or name.rsplit("/", 1)[-1] == caller_name.rsplit("/", 1)[-1]
        )
    # IAM_PATTERN: the account field is empty and the name may carry * and ? wildcards.
    return fnmatch.fnmatchcase(caller_name, name) or fnmatch.fnmatchcase(caller_name.rsplit("/", 1)[-1], name)


def caller_may_launch(catalog: Catalog, portfolio: Portfolio, caller: Caller) -> bool:
    if not account_can_use(catalog, portfolio, caller):
        return False
    principals = effective_principals(catalog, portfolio, caller.account)
    return not principals or any(principal_matches(p, caller) for p in principals)


def launchable_portfolios(catalog: Catalog, caller: Caller) -> list[Portfolio]:
    return [p for p in catalog.portfolios.values() if caller_may_launch(catalog, p, caller)]


def launch_paths(catalog: Catalog, caller: Caller, product: Product) -> list[Portfolio]:
    """Portfolios through which the caller may launch ``product`` (one launch path each)."""
    return [p for p in launchable_portfolios(catalog, caller) if product.id in p.product_ids]


def launchable_products(catalog: Catalog, caller: Caller) -> dict[str, list[Portfolio]]:
    paths: dict[str, list[Portfolio]] = {}
    for portfolio in launchable_portfolios(catalog, caller):
        for product_id in portfolio.product_ids:
            paths.setdefault(product_id, []).append(portfolio)
    return paths


def imported_portfolios(catalog: Catalog, caller: Caller, share_type: str | None = None) -> list[Portfolio]:
    out = []
    for (account, portfolio_id), accepted_as in catalog.accepted.items():
        portfolio = catalog.portfolios.get(portfolio_id)
        if account != caller.account or portfolio is None or portfolio.region != caller.region:
            continue
        if share_type is not None and accepted_as != share_type:
            continue
        if accepted_share(catalog, portfolio, account) is not None:
            out.append(portfolio)
    return out
