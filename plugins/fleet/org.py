"""A read of the live organization: accounts, the OU tree, and target resolution.

Targets are resolved from what Organizations says at run time, never from the config alone: an
account moved out of the Prod OU yesterday is not deployed to as a prod account today.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from fleet.aws import AwsContext
from fleet.config import FleetConfig, ProdTargets

# Concurrent ListTagsForResource calls while reading the organization: Organizations throttles its
# API per account, and the clients' adaptive retry slows down when it does.
TAG_READERS = 8


class TargetError(RuntimeError):
    pass


@dataclass(frozen=True)
class LiveAccount:
    id: str
    name: str
    email: str
    status: str
    ou_path: tuple[str, ...]  # OU names from the root down to the account's OU
    tags: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def ou(self) -> str | None:
        return self.ou_path[-1] if self.ou_path else None


@dataclass
class OrgView:
    accounts: list[LiveAccount]
    ou_ids: dict[tuple[str, ...], str]  # OU path -> OU id
    root_id: str

    def by_email(self) -> dict[str, LiveAccount]:
        return {a.email.lower(): a for a in self.accounts}

    def ou_id(self, name: str) -> str:
        matches = [i for path, i in self.ou_ids.items() if path[-1] == name]
        if len(matches) != 1:
            raise TargetError(f"OU {name!r} found {len(matches)} times in the organization (expected once)")
        return matches[0]

    def resolve_names(self, fleet: FleetConfig, names: tuple[str, ...] | list[str]) -> list[LiveAccount]:
        """Config account names -> live accounts, matched by email (the one key AWS keeps unique)."""
        live = self.by_email()
        out, missing = [], []
        for name in names:
            acct = live.get(fleet.account(name).email.lower())
            (out if acct else missing).append(acct or name)
        if missing:
            raise TargetError(f"accounts not in the organization: {', '.join(missing)} "
                              "(vend them first: the account_vending DAG)")
        return out

    def resolve_targets(self, fleet: FleetConfig, targets: ProdTargets) -> list[LiveAccount]:
        """OUs (nested included), tags and explicit accounts, minus exclusions; ACTIVE accounts only."""
        chosen: dict[str, LiveAccount] = {}
        wanted_ous = set(targets.ous)
        for acct in self.accounts:
            if acct.status != "ACTIVE":
                continue
            if wanted_ous & set(acct.ou_path):
                chosen[acct.id] = acct
            elif targets.tags and all(acct.tags.get(k) == v for k, v in targets.tags.items()):
                chosen[acct.id] = acct
        for acct in self.resolve_names(fleet, targets.accounts):
            chosen[acct.id] = acct
        excluded = {a.id for a in self.resolve_names(fleet, targets.exclude_accounts)}
        return sorted((a for a in chosen.values() if a.id not in excluded), key=lambda a: a.name)


def read_org(ctx: AwsContext, with_tags: bool = True) -> OrgView:
    org = ctx.client("organizations")
    root_id = org.list_roots()["Roots"][0]["Id"]
    ou_ids: dict[tuple[str, ...], str] = {}
    account_paths: dict[str, tuple[str, ...]] = {}

    def walk(parent_id: str, path: tuple[str, ...]) -> None:
        for page in org.get_paginator("list_accounts_for_parent").paginate(ParentId=parent_id):
            for a in page["Accounts"]:
                account_paths[a["Id"]] = path
        for page in org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=parent_id):
            for ou in page["OrganizationalUnits"]:
                child = (*path, ou["Name"])
                ou_ids[child] = ou["Id"]
                walk(ou["Id"], child)

    walk(root_id, ())
    listed = [a for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]

    def tags_of(account_id: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in org.list_tags_for_resource(ResourceId=account_id).get("Tags", [])}

    if with_tags and listed:
        # One call per account, so a few at once: in a row they took 20 minutes at 10,000 accounts.
        with ThreadPoolExecutor(max_workers=min(TAG_READERS, len(listed))) as pool:
            tags = list(pool.map(tags_of, [a["Id"] for a in listed]))
    else:
        tags = [{} for _ in listed]
    accounts = [LiveAccount(a["Id"], a["Name"], a["Email"], a.get("Status", "ACTIVE"), account_paths.get(a["Id"], ()), t)
                for a, t in zip(listed, tags)]
    return OrgView(accounts, ou_ids, root_id)
