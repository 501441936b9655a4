"""The rules the schema cannot say: references between sections, uniqueness, waves, files on disk.

They run on the parsed YAML after the schema pass, whatever it found, so one run reports every
problem; a value of the wrong type is the schema's to report and is skipped here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.config.problems import Problems


def check(data: Any, problems: Problems, root: Path) -> None:
    """Every cross-field rule of a whole fleet config; ``root`` is the folder paths are relative to."""
    top = _mapping(data)
    ou_names = unique_ou_names(top.get("ous"), problems)
    account_names = accounts(top.get("accounts"), ou_names, problems)
    environments(_mapping(top.get("environments")), account_names, ou_names, problems)
    baselines(top, problems, root)
    for i, scp in enumerate(_list(_mapping(top.get("guardrails")).get("scps"))):
        if isinstance(scp, str) and scp and not (root / scp).is_file():
            problems.add(f"guardrails.scps[{i}]", f"an existing SCP JSON file, {scp!r} not found")
    catalog(_mapping(top.get("catalog")), account_names, ou_names, problems, root)
    approvers(_list(_mapping(top.get("approval")).get("approvers")), problems)


def approvers(items: list, problems: Problems) -> None:
    """Unique names, emails and keys (a shared key could sign for two people); each key decodes."""
    from fleet.sshkeys import SshKeyError, parse_public_key

    seen: dict[str, set] = {"name": set(), "email": set(), "public_key": set()}
    for i, item in enumerate(items):
        item = _mapping(item)
        for field, value in (("name", item.get("name")), ("email", str(item.get("email") or "").lower() or None),
                             ("public_key", " ".join(str(item.get("public_key") or "").split()[:2]) or None)):
            if not isinstance(value, str):
                continue
            if value in seen[field]:
                label = {"name": "a name", "email": "an email", "public_key": "a public key"}[field]
                problems.add(f"approval.approvers[{i}].{field}", f"{label} no other approver has")
            seen[field].add(value)
        if isinstance(item.get("public_key"), str):
            try:
                parse_public_key(item["public_key"])
            except SshKeyError as exc:
                problems.add(f"approval.approvers[{i}].public_key", str(exc))


def baselines(top: dict, problems: Problems, root: Path) -> None:
    """Each baseline's template exists and its regions are organization regions."""
    regions = {r for r in _list(_mapping(top.get("organization")).get("regions")) if isinstance(r, str)}
    for i, baseline in enumerate(_list(top.get("baselines"))):
        key, baseline = f"baselines[{i}]", _mapping(baseline)
        template_exists(baseline.get("template"), f"{key}.template", root, problems)
        for j, region in enumerate(_list(baseline.get("regions"))):
            if regions and isinstance(region, str) and region not in regions:
                problems.add(f"{key}.regions[{j}]", f"one of organization.regions {sorted(regions)}, got {region!r}")


def unique_ou_names(ous: Any, problems: Problems) -> set[str]:
    """The names of every OU in the tree; a name used twice is a problem (OUs are found by name)."""
    seen: set[str] = set()

    def walk(nodes: Any) -> None:
        for ou in _list(nodes):
            name = _mapping(ou).get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.add("ous", f"unique OU names, {name!r} appears twice")
                seen.add(name)
            walk(_mapping(ou).get("children"))

    walk(ous)
    return seen


def accounts(items: Any, ou_names: set[str], problems: Problems, prefix: str = "accounts") -> set[str]:
    """Each account's OU is declared; names and emails are unique. Returns the account names."""
    names: set[str] = set()
    emails: set[str] = set()
    for i, account in enumerate(_list(items)):
        key, account = f"{prefix}[{i}]", _mapping(account)
        name, email, ou = account.get("name"), account.get("email"), account.get("ou")
        if isinstance(ou, str) and ou and ou not in ou_names:
            problems.add(f"{key}.ou", f"an OU declared under ous ({', '.join(sorted(ou_names))}), got {ou!r}")
        if isinstance(name, str):
            if name in names:
                problems.add(f"{key}.name", f"a unique account name, {name!r} appears twice")
            names.add(name)
        if isinstance(email, str):
            if email.lower() in emails:
                problems.add(f"{key}.email", f"a unique email (AWS refuses a second account with {email!r})")
            emails.add(email.lower())
    return names


def environments(envs: dict, names: set[str], ou_names: set[str], problems: Problems) -> None:
    for env in ("beta", "gamma"):
        account_refs(_mapping(envs.get(env)).get("accounts"), f"environments.{env}.accounts", names, problems)
    prod = _mapping(envs.get("prod"))
    if isinstance(prod.get("targets"), dict):
        targets, key = prod["targets"], "environments.prod.targets"
        ou_refs(targets.get("ous"), f"{key}.ous", ou_names, problems)
        account_refs(targets.get("accounts"), f"{key}.accounts", names, problems)
        account_refs(targets.get("exclude_accounts"), f"{key}.exclude_accounts", names, problems)
        if not (targets.get("ous") or targets.get("accounts") or targets.get("tags")):
            problems.add(key, "at least one of ous, accounts or tags")
    waves(prod.get("waves"), problems)


def waves(items: Any, problems: Problems) -> None:
    """Each wave is a count or a percent; the last one reaches every target ({percent: 100})."""
    items = _list(items)
    for i, wave in enumerate(items):
        if isinstance(wave, dict) and ("count" in wave) == ("percent" in wave):
            problems.add(f"environments.prod.waves[{i}]", "exactly one of count: N or percent: P")
    last = items[-1] if items else None
    if isinstance(last, dict) and ("count" in last) != ("percent" in last) and last.get("percent") != 100:
        problems.add(f"environments.prod.waves[{len(items) - 1}]",
                     "a last wave of {percent: 100}, so every target account is reached")


def catalog(cat: dict, names: set[str], ou_names: set[str], problems: Problems, root: Path) -> None:
    share_with = _mapping(_mapping(cat.get("portfolio")).get("share_with"))
    ou_refs(share_with.get("ous"), "catalog.portfolio.share_with.ous", ou_names, problems)
    products = _list(cat.get("products"))
    for i, product in enumerate(products):
        template_exists(_mapping(product).get("template"), f"catalog.products[{i}].template", root, problems)
    template_exists(cat.get("launch_role_template"), "catalog.launch_role_template", root, problems)
    smoke = _mapping(cat.get("smoke_test"))
    account = smoke.get("account")
    if isinstance(account, str) and account and account not in names:
        problems.add("catalog.smoke_test.account", f"an account declared under accounts, got {account!r}")
    product_names = sorted({p["name"] for p in products if isinstance(p, dict) and isinstance(p.get("name"), str)})
    if isinstance(smoke.get("product"), str) and smoke["product"] and smoke["product"] not in product_names:
        problems.add("catalog.smoke_test.product",
                     f"one of the catalog's products {product_names}, got {smoke['product']!r}")


def account_refs(refs: Any, key: str, names: set[str], problems: Problems) -> None:
    for i, ref in enumerate(_list(refs)):
        if isinstance(ref, str) and ref and ref not in names:
            problems.add(f"{key}[{i}]", f"an account declared under accounts, got {ref!r}")


def ou_refs(refs: Any, key: str, ou_names: set[str], problems: Problems) -> None:
    for i, ref in enumerate(_list(refs)):
        if isinstance(ref, str) and ref and ref not in ou_names:
            problems.add(f"{key}[{i}]", f"an OU declared under ous, got {ref!r}")


def template_exists(rel: Any, key: str, root: Path, problems: Problems) -> None:
    if isinstance(rel, str) and rel and not (root / rel).is_file():
        problems.add(key, f"an existing template file, {rel!r} not found under {root}")


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
