"""The rules the schema cannot say: references between sections, uniqueness, waves, files on disk.

They run on the parsed YAML after the schema pass, whatever it found, so one run reports every
problem; a value of the wrong type is the schema's to report and is skipped here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet.config.problems import Problems
from fleet.paths import escape_reason


def check(data: Any, problems: Problems, root: Path) -> None:
    """Every cross-field rule of a whole fleet config; ``root`` is the folder paths are relative to."""
    top = _mapping(data)
    ou_names = unique_ou_names(top.get("ous"), problems)
    account_names = accounts(top.get("accounts"), ou_names, problems)
    environments(_mapping(top.get("environments")), account_names, ou_names, problems)
    baselines(top, problems, root)
    baseline_references(top, account_names, ou_names, problems, root)
    for i, scp in enumerate(_list(_mapping(top.get("guardrails")).get("scps"))):
        if not repo_path(scp, f"guardrails.scps[{i}]", root, problems):
            continue
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


def baseline_references(top: dict, names: set[str], ou_names: set[str], problems: Problems, root: Path) -> None:
    """Targets, overrides, depends_on (known names, no cycle) and every parameter expression: its
    syntax, the account fields it reads, and each output it reads belongs to a baseline this one
    depends on, deployed in the same regions, whose template declares that output."""
    items = [(i, _mapping(b)) for i, b in enumerate(_list(top.get("baselines")))]
    by_name = {b["name"]: (i, b) for i, b in items if isinstance(b.get("name"), str)}
    for i, b in items:
        key = f"baselines[{i}]"
        if isinstance(b.get("targets"), dict):
            target_refs(b["targets"], f"{key}.targets", names, ou_names, problems)
        for j, dep in enumerate(_list(b.get("depends_on"))):
            if isinstance(dep, str) and dep not in by_name:
                problems.add(f"{key}.depends_on[{j}]", f"a baseline declared under baselines, got {dep!r}")
            elif dep == b.get("name"):
                problems.add(f"{key}.depends_on[{j}]", "another baseline (a baseline cannot depend on itself)")
        for j, override in enumerate(_list(b.get("overrides"))):
            override = _mapping(override)
            okey = f"{key}.overrides[{j}]"
            account_refs(override.get("accounts"), f"{okey}.accounts", names, problems)
            ou_refs(override.get("ous"), f"{okey}.ous", ou_names, problems)
            if bool(override.get("accounts")) == bool(override.get("ous")):
                problems.add(okey, "exactly one of accounts or ous")
    _cycles(items, by_name, problems)
    for i, b in items:
        _parameter_refs(i, b, by_name, problems, root)


def _cycles(items: list, by_name: dict, problems: Problems) -> None:
    state: dict[str, str] = {}  # name -> visiting | done

    def visit(name: str, path: list[str]) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            cycle = path[path.index(name):] + [name]
            i, _ = by_name[cycle[0]]
            problems.add(f"baselines[{i}].depends_on", f"no dependency cycle, got {' -> '.join(cycle)}")
            return
        state[name] = "visiting"
        for dep in _list(by_name[name][1].get("depends_on")):
            if isinstance(dep, str) and dep in by_name and dep != name:
                visit(dep, [*path, name])
        state[name] = "done"

    for name in by_name:
        visit(name, [])


def _dependencies(name: str, by_name: dict) -> set[str]:
    """Every baseline ``name`` depends on, directly or through another."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in _list(by_name.get(todo.pop(), (0, {}))[1].get("depends_on")):
            if isinstance(dep, str) and dep in by_name and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def _parameter_refs(i: int, b: dict, by_name: dict, problems: Problems, root: Path) -> None:
    from jinja2 import TemplateSyntaxError

    from fleet import params

    values = [(f"baselines[{i}].parameters.{k}", v) for k, v in _mapping(b.get("parameters")).items()]
    for j, override in enumerate(_list(b.get("overrides"))):
        values += [(f"baselines[{i}].overrides[{j}].parameters.{k}", v)
                   for k, v in _mapping(_mapping(override).get("parameters")).items()]
    deps = _dependencies(b.get("name"), by_name) if isinstance(b.get("name"), str) else set()
    regions = {r for r in _list(b.get("regions")) if isinstance(r, str)}
    for key, value in values:
        if not isinstance(value, str):
            continue
        try:
            refs = params.references(value)
        except TemplateSyntaxError as exc:
            problems.add(key, f"a valid expression ({exc.message}, line {exc.lineno} of the value)")
            continue
        for ref in refs:
            shape = params.reference_problem(ref)
            if shape:
                problems.add(key, shape)
                continue
            if ref[0] != "outputs":
                continue
            source, output = ref[1], ref[2]
            if source not in by_name:
                problems.add(key, f"outputs of a baseline declared under baselines, got {source!r}")
            elif source not in deps:
                problems.add(key, f"outputs of a baseline listed in depends_on, got {source!r} "
                                  f"(add it to depends_on so it is deployed first)")
            else:
                dep = by_name[source][1]
                missing = regions - {r for r in _list(dep.get("regions")) if isinstance(r, str)}
                if missing:
                    problems.add(key, f"outputs.{source} in every region of this baseline, but {source} is not "
                                      f"deployed in {sorted(missing)}")
                declared = _template_outputs(dep.get("template"), root)
                if declared is not None and output not in declared:
                    problems.add(key, f"an output the template of {source} declares ({', '.join(sorted(declared))}), "
                                      f"got {output!r}")


def _template_outputs(rel: Any, root: Path) -> set[str] | None:
    """The Outputs a template declares; None when it cannot be read (its own rule reports that)."""
    if not isinstance(rel, str) or not (root / rel).is_file():
        return None
    from fleet.templates import load_template  # local: cfn-lint's decoder is slow to import

    try:
        return set((load_template((root / rel).read_text(encoding="utf-8")).get("Outputs") or {}).keys())
    except Exception:  # noqa: BLE001 - a template that does not parse is the lint gate's to report
        return None


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


def not_other_config_accounts(items: Any, config_accounts, problems: Problems, prefix: str = "accounts") -> None:
    """A request outside the config (the accounts Param) that uses a config account's name or email
    must be that very account (it then ends "existed"); anything else would make a second account
    the config cannot tell apart."""
    by_name = {a.name: a for a in config_accounts}
    by_email = {a.email.lower(): a for a in config_accounts}
    for i, account in enumerate(_list(items)):
        account = _mapping(account)
        name, email = account.get("name"), account.get("email")
        if not isinstance(name, str) or not isinstance(email, str):
            continue
        same = by_name.get(name)
        if same is not None and same.email.lower() != email.lower():
            problems.add(f"{prefix}[{i}].name", f"a name that is not already a fleet config account, {name!r} is the "
                                                f"config's account with email {same.email}")
        other = by_email.get(email.lower())
        if other is not None and other.name != name:
            problems.add(f"{prefix}[{i}].email", f"an email that is not already a fleet config account's, {email!r} "
                                                 f"belongs to the config's account {other.name!r}")


def environments(envs: dict, names: set[str], ou_names: set[str], problems: Problems) -> None:
    for env in ("beta", "gamma"):
        account_refs(_mapping(envs.get(env)).get("accounts"), f"environments.{env}.accounts", names, problems)
    prod = _mapping(envs.get("prod"))
    if isinstance(prod.get("targets"), dict):
        target_refs(prod["targets"], "environments.prod.targets", names, ou_names, problems)
    waves(prod.get("waves"), problems)


def target_refs(targets: dict, key: str, names: set[str], ou_names: set[str], problems: Problems) -> None:
    ou_refs(targets.get("ous"), f"{key}.ous", ou_names, problems)
    account_refs(targets.get("accounts"), f"{key}.accounts", names, problems)
    account_refs(targets.get("exclude_accounts"), f"{key}.exclude_accounts", names, problems)
    if not (targets.get("ous") or targets.get("accounts") or targets.get("tags")):
        problems.add(key, "at least one of ous, accounts or tags")


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


def repo_path(rel: Any, key: str, root: Path, problems: Problems) -> bool:
    """False (and a problem) when ``rel`` is a path that leaves the repository: absolute, ``..``, a
    symlink out. What is deployed must be a file of the bundle, never one of the worker's disk."""
    reason = escape_reason(rel, root) if isinstance(rel, str) and rel else None
    if reason:
        problems.add(key, reason)
    return reason is None


def template_exists(rel: Any, key: str, root: Path, problems: Problems) -> None:
    if not repo_path(rel, key, root, problems):
        return
    if isinstance(rel, str) and rel and not (root / rel).is_file():
        problems.add(key, f"an existing template file, {rel!r} not found under {root}")


def _mapping(value: Any) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list:
    return value if isinstance(value, list) else []
