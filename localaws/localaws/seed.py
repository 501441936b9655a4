"""Make local AWS look like the fleet config says: organization, OU tree, accounts, SCPs.

Idempotent by lookup, not by memory: every step first reads what exists (by name) and only
creates what is missing, so seeding twice, or seeding a server someone already half-seeded,
yields the same account ids and no duplicates.

The fleet config is read here, as plain YAML (``localaws.seed_config``): only the keys seeding
needs, with no dependency on the product that owns the file's full schema.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from localaws.clients import client
from localaws.seed_config import SeedConfig, SeedError, read_seed_config

__all__ = ["SeedError", "load", "seed_organization"]


def load(fleet: Any) -> Any:
    """What to seed: a path to a fleet config is read; anything else (a SeedConfig, or an object
    with the same attributes) is used as is."""
    if isinstance(fleet, (str, Path)):
        return read_seed_config(fleet)
    return fleet


def _all(org: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    return [item for page in org.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def _ensure_organization(org: Any) -> str:
    try:
        org.describe_organization()
    except org.exceptions.AWSOrganizationsNotInUseException:
        org.create_organization(FeatureSet="ALL")
    root = org.list_roots()["Roots"][0]
    if not any(p["Type"] == "SERVICE_CONTROL_POLICY" and p["Status"] == "ENABLED"
               for p in root.get("PolicyTypes", [])):
        org.enable_policy_type(RootId=root["Id"], PolicyType="SERVICE_CONTROL_POLICY")
    return root["Id"]


def _ensure_ous(org: Any, parent_id: str, ous: Any, out: dict[str, str]) -> None:
    existing = {ou["Name"]: ou["Id"] for ou in
                _all(org, "list_organizational_units_for_parent", "OrganizationalUnits",
                     ParentId=parent_id)}
    for ou in ous:
        ou_id = existing.get(ou.name) or org.create_organizational_unit(
            ParentId=parent_id, Name=ou.name)["OrganizationalUnit"]["Id"]
        out[ou.name] = ou_id
        _ensure_ous(org, ou_id, ou.children, out)


def _create_account(org: Any, name: str, email: str) -> str:
    status = org.create_account(AccountName=name, Email=email)["CreateAccountStatus"]
    # moto finishes at once, real AWS does not: poll so the code stays right for both.
    deadline = time.monotonic() + 60
    while status["State"] == "IN_PROGRESS" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = org.describe_create_account_status(
            CreateAccountRequestId=status["Id"])["CreateAccountStatus"]
    if status["State"] != "SUCCEEDED":
        raise SeedError(f"CreateAccount {name} ({email}) ended {status['State']}: "
                        f"{status.get('FailureReason', 'no reason given')}")
    return status["AccountId"]


def _ensure_account(org: Any, account: Any, ou_id: str, existing: dict[str, dict[str, Any]]) -> str:
    found = existing.get(account.name)
    if found is not None and found["Email"] != account.email:
        raise SeedError(f"account {account.name} exists with email {found['Email']}, "
                        f"the fleet config says {account.email}")
    account_id = found["Id"] if found else _create_account(org, account.name, account.email)
    parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
    if parent != ou_id:
        org.move_account(AccountId=account_id, SourceParentId=parent, DestinationParentId=ou_id)
    if account.tags:
        org.tag_resource(ResourceId=account_id,
                         Tags=[{"Key": k, "Value": str(v)} for k, v in account.tags.items()])
    return account_id


def _ensure_scps(org: Any, root: Path, paths: Any) -> None:
    existing = {p["Name"]: p["Id"] for p in
                _all(org, "list_policies", "Policies", Filter="SERVICE_CONTROL_POLICY")}
    for rel in paths:
        path = root / rel
        try:
            content = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SeedError(f"guardrails.scps: cannot read {path}: {exc.strerror}") from exc
        name = path.stem
        if name in existing:
            current = org.describe_policy(PolicyId=existing[name])["Policy"]["Content"]
            if current != content:
                org.update_policy(PolicyId=existing[name], Content=content)
        else:
            org.create_policy(Name=name, Type="SERVICE_CONTROL_POLICY", Content=content,
                              Description=f"fleet guardrail from {rel}")


def _scps(fleet: Any) -> Any:
    # A SeedConfig names them at the top; the product's loaded config under guardrails.
    return fleet.scps if isinstance(fleet, SeedConfig) else fleet.guardrails.scps


def seed_organization(endpoint_url: str, fleet: Any) -> dict[str, str]:
    """Seed the management account of the local AWS at `endpoint_url` from `fleet`.

    Returns account name -> account id for every account in the fleet config.
    """
    fleet = load(fleet)
    org = client("organizations", endpoint_url)
    root_id = _ensure_organization(org)
    ou_ids: dict[str, str] = {}
    _ensure_ous(org, root_id, fleet.ous, ou_ids)

    existing = {a["Name"]: a for a in _all(org, "list_accounts", "Accounts")}
    accounts: dict[str, str] = {}
    for account in fleet.accounts:
        if account.ou not in ou_ids:
            raise SeedError(f"account {account.name}: OU {account.ou!r} is not in the OU tree")
        accounts[account.name] = _ensure_account(org, account, ou_ids[account.ou], existing)

    _ensure_scps(org, Path(fleet.root), _scps(fleet))
    return accounts
