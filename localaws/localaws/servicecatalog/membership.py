"""Organization membership, read from moto's Organizations backend of the sharing account.

A share to an organization node reaches every account in that node or below it (API reference,
CreatePortfolioShare: "a share to an organizational unit also shares to its child OUs"), so
AcceptPortfolioShare walks the accepting account's parent chain in the sharer's organization.
"""

from __future__ import annotations

from typing import Any

from .exceptions import InvalidParametersException, InvalidStateException


def _backend(account: str, partition: str) -> Any:
    from moto.organizations.models import organizations_backends

    return organizations_backends[account][partition]


def management_org(account: str, partition: str) -> Any | None:
    """The organization this account manages, or None."""
    backend = _backend(account, partition)
    org = backend.org
    if org is None or org.master_account_id != account:
        return None
    return org


def require_management(account: str, partition: str) -> Any:
    org = management_org(account, partition)
    if org is None:
        raise InvalidStateException(
            "The account is not the management account of an organization in AWS Organizations."
        )
    return org


def validate_node(account: str, partition: str, node_type: str, value: str) -> None:
    backend = _backend(account, partition)
    org = require_management(account, partition)
    if node_type == "ORGANIZATION":
        ok = value in (org.id, org.arn)
    elif node_type == "ORGANIZATIONAL_UNIT":
        ok = any(ou.id == value for ou in backend.ou if ou.type == "ORGANIZATIONAL_UNIT")
    elif node_type == "ACCOUNT":
        ok = any(a.id == value for a in backend.accounts) and value != account
    else:
        raise InvalidParametersException(f"Invalid OrganizationNode type {node_type}.")
    if not ok:
        raise InvalidParametersException(
            f"OrganizationNode {node_type} {value} is not part of the organization."
        )


def _ancestors(backend: Any, account_id: str) -> list[str]:
    account = next((a for a in backend.accounts if a.id == account_id), None)
    if account is None:
        return []
    by_id = {ou.id: ou for ou in backend.ou}
    chain: list[str] = []
    parent = account.parent_id
    while parent and parent not in chain:
        chain.append(parent)
        node = by_id.get(parent)
        parent = getattr(node, "parent_id", None) if node is not None else None
    return chain


def in_node(owner: str, partition: str, node_type: str, value: str, account_id: str) -> bool:
    """Does the node shared by ``owner`` include ``account_id``?"""
    org = management_org(owner, partition)
    if org is None or account_id == owner:
        return False
    backend = _backend(owner, partition)
    if node_type == "ACCOUNT":
        return value == account_id
    ancestors = _ancestors(backend, account_id)
    if not ancestors:
        return False
    if node_type == "ORGANIZATION":
        return value in (org.id, org.arn)
    return value in ancestors


def accounts_in_node(owner: str, partition: str, node_type: str, value: str) -> list[str]:
    backend = _backend(owner, partition)
    return [
        a.id
        for a in backend.accounts
        if in_node(owner, partition, node_type, value, a.id)
    ]
