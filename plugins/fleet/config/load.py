"""Read fleet.yaml, check it (schema, then cross-field rules) and build the typed FleetConfig.

Every problem names the file, the key path (``environments.prod.waves[1].percent``), the line and
what was expected, so a bad config is fixed in one edit and nothing is deployed from it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fleet import yamlsafe
from fleet.config import rules, schema
from fleet.config.model import (
    OU, Account, Alerts, Approval, Approver, Baseline, Catalog, Environments, FleetConfig, Guardrails, Organization,
    Override, Policies, ProdTargets, Product, SmokeTest, Vending, Wave,
)
from fleet.config.problems import ConfigError, Problem, Problems, line_index

DEFAULT_LAUNCH_ROLE_TEMPLATE = "templates/catalog-launch-role.yaml"


def load_config(path: str | Path) -> FleetConfig:
    """Parse and validate ``path``; raise ConfigError listing every problem found, sorted by line."""
    path = Path(path)
    display = str(path)
    if not path.exists():
        raise ConfigError([Problem(display, "", None, "cannot read the fleet config (No such file or directory)")])
    try:
        doc = yamlsafe.load_file(path, display)  # bounded: size, depth, aliases, duplicate keys, UTF-8
    except yamlsafe.YamlInputError as exc:
        raise ConfigError([Problem(display, "", exc.line, exc.reason)]) from None
    node, data = doc.node, doc.data
    problems = Problems(display, line_index(node))
    schema.check(data, problems)
    rules.check(data, problems, path.parent)
    problems.raise_any()
    return _fleet(data, path.resolve())


def account_requests(data: Any, fleet: FleetConfig, source: str = "the accounts Param") -> tuple[Account, ...]:
    """Validate account requests given outside the config (a DAG Param) by the config's own rules:
    names, emails, an OU the config declares. Errors name ``source`` and the item's key."""
    problems = Problems(source, {})
    schema.check(data, problems, definition="accountRequests", prefix="accounts")
    rules.accounts(data, {ou.name for top in fleet.ous for ou, _ in top.walk()}, problems)
    rules.not_other_config_accounts(data, fleet.accounts, problems)
    problems.raise_any()
    return tuple(_account(a) for a in data)


# -- building: the data passed the schema and the rules, so only defaults are left to apply --------

def _fleet(d: dict, path: Path) -> FleetConfig:
    org = d["organization"]
    regions = tuple(org["regions"])
    organization = Organization(str(org["management_account"]), org["pipeline_role"], regions,
                                org.get("home_region") or regions[0], org.get("vending") or "organizations")
    return FleetConfig(
        path=path,
        organization=organization,
        ous=tuple(_ou(o) for o in d["ous"]),
        accounts=tuple(_account(a) for a in d["accounts"]),
        environments=_environments(d["environments"]),
        baselines=tuple(_baseline(b) for b in d["baselines"]),
        guardrails=_guardrails(d.get("guardrails") or {}),
        catalog=_catalog(d["catalog"], path.parent),
        approval=_approval(d["approval"]),
        vending=_vending(d.get("vending") or {}, organization.vending),
        alerts=_alerts(d.get("alerts") or {}),
        policies=Policies(dict((d.get("policies") or {}).get("parameters") or {})),
    )


def _baseline(b: dict) -> Baseline:
    targets = b.get("targets")
    return Baseline(b["name"], b["template"], tuple(b["regions"]), _strings(b.get("parameters")),
                    _targets(targets) if targets else None, tuple(b.get("depends_on") or ()),
                    tuple(Override(tuple(o.get("accounts") or ()), tuple(o.get("ous") or ()),
                                   _strings(o.get("parameters"))) for o in b.get("overrides") or ()),
                    b.get("on_removal") or "delete", tuple(b.get("sensitive_outputs") or ()))


def _targets(t: dict) -> ProdTargets:
    return ProdTargets(tuple(t.get("ous") or ()), tuple(t.get("accounts") or ()), _strings(t.get("tags")),
                       tuple(t.get("exclude_accounts") or ()))


def _ou(d: dict) -> OU:
    return OU(d["name"], tuple(_ou(c) for c in d.get("children") or ()))


def _account(d: dict) -> Account:
    return Account(d["name"], d["email"], d["ou"], _strings(d.get("tags")))


def _strings(d: dict | None) -> dict[str, str]:
    """Tags and parameters: YAML reads 365 as a number; AWS wants text."""
    return {str(k): str(v) for k, v in (d or {}).items()}


def _environments(d: dict) -> Environments:
    prod, targets = d["prod"], d["prod"]["targets"]
    return Environments(
        beta_accounts=tuple(d["beta"]["accounts"]),
        gamma_accounts=tuple(d["gamma"]["accounts"]),
        bake_minutes=_int(d["gamma"].get("bake_minutes"), 0),
        prod_targets=_targets(targets),
        waves=tuple(Wave(_int(w.get("count")), _int(w.get("percent")), _int(w.get("failure_tolerance")),
                         _int(w.get("max_concurrent"))) for w in prod["waves"]),
        max_concurrent=_int(prod.get("max_concurrent"), 10),
        failure_tolerance=_int(prod.get("failure_tolerance"), 0),
    )


def _int(value: Any, default: int | None = None) -> int | None:
    # JSON Schema's integer includes 2.0; the config's users get a plain int.
    return default if value is None else int(value)


def _guardrails(d: dict) -> Guardrails:
    standards = d.get("securityhub_standards")
    return Guardrails(tuple(d.get("scps") or ()), tuple(d.get("services") or ()),
                      Guardrails.securityhub_standards if "securityhub_standards" not in d else tuple(standards or ()))


def _catalog(d: dict, root: Path) -> Catalog:
    portfolio = d["portfolio"]
    products = tuple(Product(p["name"], p["template"], p.get("owner", "Platform Team"), p.get("launch_role"),
                             p.get("description") or "") for p in d["products"])
    launch_role_template = d.get("launch_role_template")
    if launch_role_template is None and (root / DEFAULT_LAUNCH_ROLE_TEMPLATE).is_file():
        # Without the template the launch role must already exist where products are launched.
        launch_role_template = DEFAULT_LAUNCH_ROLE_TEMPLATE
    smoke = d.get("smoke_test")  # a mapping, or null / false for none
    return Catalog(
        portfolio_name=portfolio["name"],
        provider=portfolio.get("provider", "Platform Team"),
        share_ous=tuple((portfolio.get("share_with") or {}).get("ous") or ()),
        principals=tuple(portfolio.get("principals") or ()),
        products=products,
        keep_versions=_int(d.get("keep_versions"), 3),
        launch_role_template=launch_role_template,
        # {key: value} or {key: [values]} -> (key, value) pairs (Service Catalog TagOptions)
        tag_options=tuple((k, str(v)) for k, vs in (d.get("tag_options") or {}).items()
                          for v in (vs if isinstance(vs, list) else [vs])),
        smoke_test=SmokeTest(smoke["account"], smoke.get("principal", "role/Developer"), smoke.get("product") or None,
                             _strings(smoke.get("parameters")), smoke.get("create_principal", True)) if smoke else None,
    )


def _approval(d: dict) -> Approval:
    approvers = tuple(Approver(a["name"], a["email"].lower(), a["public_key"].strip()) for a in d["approvers"])
    return Approval(approvers, float(d.get("timeout_hours", 24)), d.get("auto_approve_empty_plan", True),
                    d.get("store", "s3"), d.get("table", "fleet-approvals"), d.get("topic", "fleet-approvals"),
                    d.get("ui", False))


def _alerts(d: dict) -> Alerts:
    return Alerts(d.get("topic") or Alerts.topic, d.get("metrics_namespace") or Alerts.metrics_namespace,
                  (d.get("console_url") or Alerts.console_url).rstrip("/"))


def _vending(d: dict, default_backend: str) -> Vending:
    return Vending(d.get("backend") or default_backend,
                   _int(d.get("readiness_timeout_minutes"), Vending.readiness_timeout_minutes),
                   _int(d.get("poll_seconds"), Vending.poll_seconds),
                   d.get("account_factory_product", Vending.account_factory_product),
                   d.get("sso_first_name", Vending.sso_first_name), d.get("sso_last_name", Vending.sso_last_name))
