"""Portfolio sharing, to accounts and to AWS Organizations nodes.

API reference behaviour kept here:
- CreatePortfolioShare takes AccountId *or* OrganizationNode; shares to organization nodes need
  the management account and EnableAWSOrganizationsAccess, and return a PortfolioShareToken
  for DescribePortfolioShareStatus.  Re-creating an existing share has no effect.
- The recipient accepts with AcceptPortfolioShare: PortfolioShareType IMPORTED (the default) for
  account shares, AWS_ORGANIZATIONS for organization shares; the wrong type, or a portfolio that
  was never shared with the account, is ResourceNotFoundException ("Portfolio not found").
- DescribePortfolioShares.Accepted is always true for organization-node shares.
"""

from __future__ import annotations

import re
from typing import Any

from localaws.request import Caller

from .. import membership
from ..access import imported_portfolios, share_covering
from ..exceptions import (
    InvalidParametersException,
    InvalidStateException,
    OperationNotSupportedException,
    ResourceNotFoundException,
)
from ..models import Catalog, Share, ShareStatus, new_id
from ..registry import operation, paginate, required

_ACCOUNT_ID = re.compile(r"^\d{12}$")
_NODE_TO_SHARE_TYPE = {
    "ORGANIZATION": "ORGANIZATION",
    "ORGANIZATIONAL_UNIT": "ORGANIZATIONAL_UNIT",
    "ACCOUNT": "ORGANIZATION_MEMBER_ACCOUNT",
}


def _target(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> tuple[str, str]:
    """(DescribePortfolioShares type, principal id) of the AccountId / OrganizationNode given."""
    account_id, node = params.get("AccountId"), params.get("OrganizationNode")
    if bool(account_id) == bool(node):
        raise InvalidParametersException("Specify exactly one of AccountId or OrganizationNode.")
    if account_id:
        if not _ACCOUNT_ID.match(account_id) or account_id == caller.account:
            raise InvalidParametersException(f"Invalid AccountId {account_id}.")
        return "ACCOUNT", account_id
    node_type, value = node.get("Type"), node.get("Value")
    if node_type not in _NODE_TO_SHARE_TYPE or not value:
        raise InvalidParametersException("OrganizationNode needs a Type and a Value.")
    return _NODE_TO_SHARE_TYPE[node_type], value


def _require_org_access(catalog: Catalog, caller: Caller) -> None:
    membership.require_management(caller.account, caller.partition)
    if not catalog.organizations_access(caller.account):
        raise InvalidStateException(
            "AWSOrganizationsAccess is not enabled: call EnableAWSOrganizationsAccess first."
        )


@operation("EnableAWSOrganizationsAccess")
def enable_org_access(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if membership.management_org(caller.account, caller.partition) is None:
        raise InvalidStateException("Only the management account of an organization can enable access.")
    catalog.set_organizations_access(caller, True)
    return {}


@operation("DisableAWSOrganizationsAccess")
def disable_org_access(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if membership.management_org(caller.account, caller.partition) is None:
        raise InvalidStateException("Only the management account of an organization can disable access.")
    catalog.set_organizations_access(caller, False)
    return {}


@operation("GetAWSOrganizationsAccessStatus")
def get_org_access(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    if membership.management_org(caller.account, caller.partition) is None:
        raise OperationNotSupportedException("The account is not the management account of an organization.")
    return {"AccessStatus": "ENABLED" if catalog.organizations_access(caller.account) else "DISABLED"}


@operation("CreatePortfolioShare")
def create_portfolio_share(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    share_type, principal_id = _target(catalog, caller, params)
    via_org = share_type != "ACCOUNT"
    if via_org:
        _require_org_access(catalog, caller)
        membership.validate_node(caller.account, caller.partition, params["OrganizationNode"]["Type"], principal_id)
    elif params.get("SharePrincipals"):
        raise InvalidParametersException("SharePrincipals is only supported for ORGANIZATION and ORGANIZATIONAL_UNIT shares.")
    shares = catalog.shares.setdefault(portfolio.id, [])
    existing = next((s for s in shares if s.type == share_type and s.principal_id == principal_id), None)
    if existing is None:
        existing = Share(
            portfolio_id=portfolio.id,
            type=share_type,
            principal_id=principal_id,
            token=new_id("share") if via_org else None,
            share_tag_options=bool(params.get("ShareTagOptions")),
            share_principals=bool(params.get("SharePrincipals")),
        )
        shares.append(existing)
        if existing.token:
            catalog.share_status[existing.token] = ShareStatus(
                token=existing.token,
                portfolio_id=portfolio.id,
                node_value=principal_id,
                accounts=membership.accounts_in_node(caller.account, caller.partition, existing.node_type, principal_id),
            )
    return {"PortfolioShareToken": existing.token} if existing.token else {}


@operation("UpdatePortfolioShare")
def update_portfolio_share(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    share_type, principal_id = _target(catalog, caller, params)
    share = next(
        (s for s in catalog.shares.get(portfolio.id, []) if s.type == share_type and s.principal_id == principal_id),
        None,
    )
    if share is None:
        raise ResourceNotFoundException(f"Portfolio {portfolio.id} is not shared with {principal_id}.")
    if params.get("ShareTagOptions") is not None:
        share.share_tag_options = bool(params["ShareTagOptions"])
    if params.get("SharePrincipals") is not None:
        share.share_principals = bool(params["SharePrincipals"])
    out: dict[str, Any] = {"Status": "COMPLETED"}
    if share.token:
        out["PortfolioShareToken"] = share.token
    return out


@operation("DescribePortfolioShareStatus")
def describe_portfolio_share_status(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Sharing is synchronous locally, so every token reports COMPLETED."""
    required(params, "PortfolioShareToken")
    status = catalog.share_status.get(params["PortfolioShareToken"])
    portfolio = catalog.portfolios.get(status.portfolio_id) if status else None
    if status is None or portfolio is None or portfolio.account != caller.account:
        raise ResourceNotFoundException(f"Share token {params['PortfolioShareToken']} not found.")
    return {
        "PortfolioShareToken": status.token,
        "PortfolioId": status.portfolio_id,
        "OrganizationNodeValue": status.node_value,
        "Status": status.status,
        "ShareDetails": {"SuccessfulShares": list(status.accounts), "ShareErrors": []},
    }


@operation("DescribePortfolioShares")
def describe_portfolio_shares(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId", "Type")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    if params["Type"] not in ("ACCOUNT", "ORGANIZATION", "ORGANIZATIONAL_UNIT", "ORGANIZATION_MEMBER_ACCOUNT"):
        raise InvalidParametersException(f"Invalid Type {params['Type']}.")
    details = [
        {
            "PrincipalId": s.principal_id,
            "Type": s.type,
            "Accepted": True if s.via_organizations else (s.principal_id, portfolio.id) in catalog.accepted,
            "ShareTagOptions": s.share_tag_options,
            "SharePrincipals": s.share_principals,
        }
        for s in catalog.shares.get(portfolio.id, [])
        if s.type == params["Type"]
    ]
    return paginate(details, params, "PortfolioShareDetails")


@operation("DeletePortfolioShare")
def delete_portfolio_share(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    share_type, principal_id = _target(catalog, caller, params)
    shares = catalog.shares.get(portfolio.id, [])
    share = next((s for s in shares if s.type == share_type and s.principal_id == principal_id), None)
    if share is None:
        raise ResourceNotFoundException(f"Portfolio {portfolio.id} is not shared with {principal_id}.")
    if share.via_organizations:
        _require_org_access(catalog, caller)
    shares.remove(share)
    if not shares:
        catalog.shares.pop(portfolio.id, None)
    # Imports that no share covers any more stop working (access.accepted_share re-checks);
    # drop the dangling acceptance records so ListAcceptedPortfolioShares agrees.
    for (account, portfolio_id) in list(catalog.accepted):
        if portfolio_id == portfolio.id and share_covering(catalog, portfolio, account) is None:
            del catalog.accepted[(account, portfolio_id)]
    return {"PortfolioShareToken": share.token} if share.token else {}


def _offered_share(catalog: Catalog, caller: Caller, portfolio_id: str, share_type: str) -> Any:
    if share_type == "AWS_SERVICECATALOG":
        raise ResourceNotFoundException("PortfolioShareType AWS_SERVICECATALOG is not supported.")
    if share_type not in ("IMPORTED", "AWS_ORGANIZATIONS"):
        raise InvalidParametersException(f"Invalid PortfolioShareType {share_type}.")
    portfolio = catalog.portfolios.get(portfolio_id)
    share = None
    if portfolio is not None and portfolio.region == caller.region and portfolio.account != caller.account:
        share = share_covering(catalog, portfolio, caller.account)
    if share is None or share.via_organizations != (share_type == "AWS_ORGANIZATIONS"):
        raise ResourceNotFoundException(f"Portfolio {portfolio_id} not found.")
    return portfolio, share


@operation("AcceptPortfolioShare")
def accept_portfolio_share(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    required(params, "PortfolioId")
    share_type = params.get("PortfolioShareType") or "IMPORTED"
    portfolio, _ = _offered_share(catalog, caller, params["PortfolioId"], share_type)
    catalog.accepted[(caller.account, portfolio.id)] = share_type
    return {}


@operation("RejectPortfolioShare")
def reject_portfolio_share(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Rejecting an account share removes it; rejecting an organization share removes only
    this account's import (the share to the node stays)."""
    required(params, "PortfolioId")
    share_type = params.get("PortfolioShareType") or "IMPORTED"
    portfolio, share = _offered_share(catalog, caller, params["PortfolioId"], share_type)
    catalog.accepted.pop((caller.account, portfolio.id), None)
    if not share.via_organizations:
        catalog.shares[portfolio.id].remove(share)
    return {}


@operation("ListAcceptedPortfolioShares")
def list_accepted_portfolio_shares(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    share_type = params.get("PortfolioShareType") or "IMPORTED"
    if share_type == "AWS_SERVICECATALOG":
        return {"PortfolioDetails": []}
    portfolios = [p.detail() for p in imported_portfolios(catalog, caller, share_type)]
    return paginate(portfolios, params, "PortfolioDetails")


@operation("ListPortfolioAccess")
def list_portfolio_access(catalog: Catalog, caller: Caller, params: dict[str, Any]) -> dict[str, Any]:
    """Accounts the portfolio reaches: account shares plus every account under organization shares
    (optionally only those under OrganizationParentId)."""
    required(params, "PortfolioId")
    portfolio = catalog.own_portfolio(caller, params["PortfolioId"])
    accounts: list[str] = []
    for share in catalog.shares.get(portfolio.id, []):
        if share.type == "ACCOUNT":
            members = [share.principal_id]
        else:
            members = membership.accounts_in_node(caller.account, caller.partition, share.node_type, share.principal_id)
        accounts += [a for a in members if a not in accounts]
    parent = params.get("OrganizationParentId")
    if parent:
        accounts = [
            a for a in accounts if membership.in_node(caller.account, caller.partition, "ORGANIZATIONAL_UNIT", parent, a)
        ]
    return paginate(accounts, params, "AccountIds")

