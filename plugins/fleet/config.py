"""Load and validate the fleet config (include/fleet.yaml).

Every error names the file, the key path (``environments.prod.waves[1].percent``), the line and
what was expected, so a bad config is fixed in one edit and nothing is deployed from it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ACCOUNT_ID = re.compile(r"^\d{12}$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
REGION = re.compile(r"^[a-z]{2}(-gov)?-[a-z]+-\d$")
# Enabled in every vended account through the services' own APIs; AWS Config, CloudTrail and Access
# Analyzer belong in a baseline template, where the rollout keeps them converged.
GUARDRAIL_SERVICES = {"guardduty", "securityhub", "macie"}
SECURITYHUB_STANDARD = re.compile(r"^(arn:aws[\w-]*:securityhub:[\w-]*::(standards|ruleset)/)?[a-z0-9-]+/v/[0-9.]+$")
VENDING_BACKENDS = {"organizations", "control_tower"}


class ConfigError(ValueError):
    """A fleet config that cannot be used. ``problems`` holds every problem found, not just one."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


@dataclass(frozen=True)
class Problem:
    file: str
    key: str
    line: int | None
    expected: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.key or '<root>'}: {self.expected}"


@dataclass(frozen=True)
class Organization:
    management_account: str
    pipeline_role: str
    regions: tuple[str, ...]
    home_region: str
    vending: str = "organizations"


@dataclass(frozen=True)
class OU:
    name: str
    children: tuple[OU, ...] = ()

    def walk(self, parents: tuple[str, ...] = ()):
        """Yield (ou, path-from-root) for this OU and every OU below it."""
        path = (*parents, self.name)
        yield self, path
        for child in self.children:
            yield from child.walk(path)


@dataclass(frozen=True)
class Account:
    name: str
    email: str
    ou: str
    tags: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Wave:
    count: int | None = None
    percent: int | None = None
    failure_tolerance: int | None = None  # None: the environment's failure_tolerance
    max_concurrent: int | None = None  # None: the environment's max_concurrent


@dataclass(frozen=True)
class ProdTargets:
    ous: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    exclude_accounts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Environments:
    beta_accounts: tuple[str, ...]
    gamma_accounts: tuple[str, ...]
    bake_minutes: int
    prod_targets: ProdTargets
    waves: tuple[Wave, ...]
    max_concurrent: int
    failure_tolerance: int


@dataclass(frozen=True)
class Baseline:
    name: str
    template: str
    regions: tuple[str, ...]
    parameters: dict[str, str] = field(default_factory=dict, hash=False)

    @property
    def stack_name(self) -> str:
        return f"fleet-{self.name}"


@dataclass(frozen=True)
class Guardrails:
    scps: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    # Security Hub standards enabled with the service: "name/v/version" (the ARN's tail) or a full ARN.
    securityhub_standards: tuple[str, ...] = ("aws-foundational-security-best-practices/v/1.0.0",)


@dataclass(frozen=True)
class Vending:
    """How new accounts are made and how long they may take to become usable."""

    backend: str = "organizations"  # organizations (CreateAccount) | control_tower (Account Factory)
    readiness_timeout_minutes: int = 60
    poll_seconds: int = 30
    account_factory_product: str = "AWS Control Tower Account Factory"
    sso_first_name: str = "Platform"
    sso_last_name: str = "Team"


@dataclass(frozen=True)
class Product:
    name: str
    template: str
    owner: str
    launch_role: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Catalog:
    portfolio_name: str
    provider: str
    share_ous: tuple[str, ...]
    principals: tuple[str, ...]
    products: tuple[Product, ...]
    keep_versions: int = 3
    # The least-privilege role products launch with (a LocalRoleName launch constraint): deployed
    # by the pipeline in the management account and in every account of the shared OUs.
    launch_role_template: str | None = "templates/catalog-launch-role.yaml"
    tag_options: tuple[tuple[str, str], ...] = ()  # (key, value) pairs offered to every product
    smoke_test: SmokeTest | None = None


@dataclass(frozen=True)
class SmokeTest:
    """After publishing: launch ``product`` in ``account`` as ``principal`` (an end user), check it, terminate it."""

    account: str
    principal: str = "role/Developer"
    product: str | None = None  # default: every product
    parameters: dict[str, str] = field(default_factory=dict, hash=False)
    create_principal: bool = True  # create the end-user role in the account when it is missing


@dataclass(frozen=True)
class Approval:
    approvers: tuple[str, ...]
    timeout_hours: float
    auto_approve_empty_plan: bool = True  # a plan with no change needs no human
    store: str = "s3"  # s3 (the artifacts bucket) | dynamodb
    table: str = "fleet-approvals"  # the DynamoDB table when store is dynamodb
    topic: str = "fleet-approvals"  # SNS topic in the management account the requests are published to
    ui: bool = False  # also offer the decision in the Airflow UI (human-in-the-loop task)


@dataclass(frozen=True)
class FleetConfig:
    path: Path
    organization: Organization
    ous: tuple[OU, ...]
    accounts: tuple[Account, ...]
    environments: Environments
    baselines: tuple[Baseline, ...]
    guardrails: Guardrails
    catalog: Catalog
    approval: Approval
    vending: Vending = Vending()

    @property
    def root(self) -> Path:
        """The folder that holds the config; template and policy paths are relative to it."""
        return self.path.parent

    def account(self, name: str) -> Account:
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)

    def ou_paths(self) -> dict[str, tuple[str, ...]]:
        """OU name -> its path from the root, e.g. Prod -> (Workloads, Prod)."""
        return {ou.name: path for top in self.ous for ou, path in top.walk()}

    def accounts_under(self, ou_names: tuple[str, ...] | list[str]) -> list[Account]:
        """Accounts whose OU is one of ``ou_names`` or nested below one of them."""
        paths = self.ou_paths()
        wanted = set(ou_names)
        return [a for a in self.accounts if wanted & set(paths.get(a.ou, ()))]


def load_config(path: str | Path) -> FleetConfig:
    """Parse and validate ``path``; raise ConfigError listing every problem found."""
    path = Path(path)
    display = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([Problem(display, "", None, f"cannot read the fleet config ({exc.strerror})")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([Problem(display, "", line, f"valid YAML ({reason})")])
    lines = line_index(node)
    return _Validator(display, lines, path).fleet(data)


def account_requests(data: Any, fleet: FleetConfig, source: str = "the accounts Param") -> tuple[Account, ...]:
    """Validate account requests given outside the config (a DAG Param) by the config's own rules:
    names, emails, an OU the config declares. Errors name ``source`` and the item's key."""
    v = _Validator(source, {}, fleet.path)
    ou_names = {ou.name for top in fleet.ous for ou, _ in top.walk()}
    out = v.accounts(data, ou_names)
    if v.problems:
        raise ConfigError(v.problems)
    return out


def line_index(node: yaml.Node | None) -> dict[str, int]:
    """Key path -> 1-based line, for every mapping key and sequence item in the document."""
    index: dict[str, int] = {}

    def walk(n: yaml.Node, key: str) -> None:
        index.setdefault(key, n.start_mark.line + 1)
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                child = f"{key}.{k.value}" if key else str(k.value)
                index[child] = k.start_mark.line + 1
                walk(v, child)
        elif isinstance(n, yaml.SequenceNode):
            for i, item in enumerate(n.value):
                child = f"{key}[{i}]"
                index[child] = item.start_mark.line + 1
                walk(item, child)

    if node is not None:
        walk(node, "")
    return index


class _Validator:
    """Collects every problem instead of stopping at the first, so one run shows them all."""

    def __init__(self, file: str, lines: dict[str, int], path: Path):
        self.file, self.lines, self.path = file, lines, path
        self.problems: list[Problem] = []

    def bad(self, key: str, expected: str) -> None:
        line = self.lines.get(key)
        probe = key
        while line is None and probe:
            probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            line = self.lines.get(probe)
        self.problems.append(Problem(self.file, key, line, expected))

    # -- typed getters: each returns a usable default after recording a problem ---------------
    def mapping(self, data: Any, key: str, required: bool = True) -> dict:
        if data is None and not required:
            return {}
        if not isinstance(data, dict):
            self.bad(key, "a mapping" + ("" if data is not None else " (missing)"))
            return {}
        return data

    def seq(self, data: Any, key: str, required: bool = True) -> list:
        if data is None and not required:
            return []
        if not isinstance(data, list):
            self.bad(key, "a list" + ("" if data is not None else " (missing)"))
            return []
        return data

    def string(self, data: Any, key: str, pattern: re.Pattern | None = None, what: str = "a string",
               required: bool = True) -> str:
        if data is None and not required:
            return ""
        if isinstance(data, bool) or not isinstance(data, (str, int)):
            self.bad(key, what + (" (missing)" if data is None else f", got {type(data).__name__}"))
            return ""
        value = str(data)
        if pattern and not pattern.match(value):
            self.bad(key, f"{what}, got {value!r}")
        return value

    def integer(self, data: Any, key: str, low: int, high: int | None = None, default: int | None = None) -> int:
        if data is None and default is not None:
            return default
        if isinstance(data, bool) or not isinstance(data, int) or data < low or (high is not None and data > high):
            bound = f"from {low} to {high}" if high is not None else f"at least {low}"
            self.bad(key, f"a whole number {bound}, got {data!r}")
            return default if default is not None else low
        return data

    def unknown_keys(self, data: dict, key: str, allowed: set[str]) -> None:
        for k in data:
            if k not in allowed:
                self.bad(f"{key}.{k}" if key else str(k), f"one of the known keys {sorted(allowed)}")

    # -- sections -------------------------------------------------------------------------------
    def fleet(self, data: Any) -> FleetConfig:
        top = self.mapping(data, "")
        self.unknown_keys(top, "", {"organization", "ous", "accounts", "environments", "baselines",
                                    "guardrails", "catalog", "approval", "vending"})
        org = self.organization(top.get("organization"))
        ous = tuple(self.ou(o, f"ous[{i}]") for i, o in enumerate(self.seq(top.get("ous"), "ous")))
        ou_names = self.check_ou_names(ous)
        accounts = self.accounts(top.get("accounts"), ou_names)
        names = {a.name for a in accounts}
        envs = self.environments(top.get("environments"), names, ou_names)
        baselines = self.baselines(top.get("baselines"), set(org.regions))
        guardrails = self.guardrails(top.get("guardrails"))
        catalog = self.catalog(top.get("catalog"), ou_names, names)
        approval = self.approval(top.get("approval"))
        vending = self.vending(top.get("vending"), org.vending)
        if self.problems:
            raise ConfigError(self.problems)
        return FleetConfig(self.path.resolve(), org, ous, accounts, envs, baselines, guardrails, catalog, approval,
                     vending)

    def organization(self, data: Any) -> Organization:
        d = self.mapping(data, "organization")
        self.unknown_keys(d, "organization", {"management_account", "pipeline_role", "regions",
                                              "home_region", "vending"})
        mgmt = self.string(d.get("management_account"), "organization.management_account", ACCOUNT_ID,
                           "a 12-digit AWS account id in quotes")
        role = self.string(d.get("pipeline_role"), "organization.pipeline_role", NAME, "an IAM role name")
        regions = tuple(self.string(r, f"organization.regions[{i}]", REGION, "an AWS region such as us-east-1")
                        for i, r in enumerate(self.seq(d.get("regions"), "organization.regions")))
        if not regions and "organization.regions" not in [p.key for p in self.problems]:
            self.bad("organization.regions", "at least one region")
        home = self.string(d.get("home_region", regions[0] if regions else "us-east-1"),
                           "organization.home_region", REGION, "an AWS region")
        vending = self.string(d.get("vending", "organizations"), "organization.vending", what="a string")
        if vending not in VENDING_BACKENDS:
            self.bad("organization.vending", f"one of {sorted(VENDING_BACKENDS)}, got {vending!r}")
        return Organization(mgmt, role, regions, home, vending)

    def ou(self, data: Any, key: str) -> OU:
        d = self.mapping(data, key)
        self.unknown_keys(d, key, {"name", "children"})
        name = self.string(d.get("name"), f"{key}.name", NAME, "an OU name")
        children = tuple(self.ou(c, f"{key}.children[{i}]")
                         for i, c in enumerate(self.seq(d.get("children"), f"{key}.children", required=False)))
        return OU(name, children)

    def check_ou_names(self, ous: tuple[OU, ...]) -> set[str]:
        seen: set[str] = set()
        for top in ous:
            for ou, _ in top.walk():
                if ou.name in seen:
                    self.bad("ous", f"unique OU names, {ou.name!r} appears twice")
                seen.add(ou.name)
        return seen

    def accounts(self, data: Any, ou_names: set[str]) -> tuple[Account, ...]:
        out: list[Account] = []
        names: set[str] = set()
        emails: set[str] = set()
        for i, raw in enumerate(self.seq(data, "accounts")):
            key = f"accounts[{i}]"
            d = self.mapping(raw, key)
            self.unknown_keys(d, key, {"name", "email", "ou", "tags"})
            name = self.string(d.get("name"), f"{key}.name", NAME, "an account name")
            email = self.string(d.get("email"), f"{key}.email", EMAIL, "an email address")
            ou = self.string(d.get("ou"), f"{key}.ou", what="an OU name")
            if ou and ou not in ou_names:
                self.bad(f"{key}.ou", f"an OU declared under ous ({', '.join(sorted(ou_names))}), got {ou!r}")
            tags = self.tags(d.get("tags"), f"{key}.tags")
            if name in names:
                self.bad(f"{key}.name", f"a unique account name, {name!r} appears twice")
            if email.lower() in emails:
                self.bad(f"{key}.email", f"a unique email (AWS refuses a second account with {email!r})")
            names.add(name)
            emails.add(email.lower())
            out.append(Account(name, email, ou, tags))
        return tuple(out)

    def tags(self, data: Any, key: str) -> dict[str, str]:
        d = self.mapping(data, key, required=False)
        out = {}
        for k, v in d.items():
            if isinstance(v, (dict, list)) or v is None:
                self.bad(f"{key}.{k}", "a tag value (a string)")
                continue
            out[str(k)] = str(v)
        return out

    def account_refs(self, data: Any, key: str, names: set[str], required: bool = True) -> tuple[str, ...]:
        refs = []
        for i, ref in enumerate(self.seq(data, key, required=required)):
            ref = self.string(ref, f"{key}[{i}]", what="an account name")
            if ref and ref not in names:
                self.bad(f"{key}[{i}]", f"an account declared under accounts, got {ref!r}")
            refs.append(ref)
        return tuple(refs)

    def environments(self, data: Any, names: set[str], ou_names: set[str]) -> Environments:
        d = self.mapping(data, "environments")
        self.unknown_keys(d, "environments", {"beta", "gamma", "prod"})
        beta = self.mapping(d.get("beta"), "environments.beta")
        gamma = self.mapping(d.get("gamma"), "environments.gamma")
        prod = self.mapping(d.get("prod"), "environments.prod")
        self.unknown_keys(beta, "environments.beta", {"accounts"})
        self.unknown_keys(gamma, "environments.gamma", {"accounts", "bake_minutes"})
        self.unknown_keys(prod, "environments.prod", {"targets", "waves", "max_concurrent", "failure_tolerance"})
        beta_accounts = self.account_refs(beta.get("accounts"), "environments.beta.accounts", names)
        gamma_accounts = self.account_refs(gamma.get("accounts"), "environments.gamma.accounts", names)
        bake = self.integer(gamma.get("bake_minutes"), "environments.gamma.bake_minutes", 0, 24 * 60, default=0)
        t = self.mapping(prod.get("targets"), "environments.prod.targets")
        self.unknown_keys(t, "environments.prod.targets", {"ous", "accounts", "tags", "exclude_accounts"})
        target_ous = []
        for i, ou in enumerate(self.seq(t.get("ous"), "environments.prod.targets.ous", required=False)):
            ou = self.string(ou, f"environments.prod.targets.ous[{i}]", what="an OU name")
            if ou and ou not in ou_names:
                self.bad(f"environments.prod.targets.ous[{i}]", f"an OU declared under ous, got {ou!r}")
            target_ous.append(ou)
        targets = ProdTargets(
            ous=tuple(target_ous),
            accounts=self.account_refs(t.get("accounts"), "environments.prod.targets.accounts", names, False),
            tags=self.tags(t.get("tags"), "environments.prod.targets.tags"),
            exclude_accounts=self.account_refs(t.get("exclude_accounts"),
                                               "environments.prod.targets.exclude_accounts", names, False),
        )
        if not (targets.ous or targets.accounts or targets.tags):
            self.bad("environments.prod.targets", "at least one of ous, accounts or tags")
        waves = []
        for i, w in enumerate(self.seq(prod.get("waves"), "environments.prod.waves")):
            key = f"environments.prod.waves[{i}]"
            w = self.mapping(w, key)
            self.unknown_keys(w, key, {"count", "percent", "failure_tolerance", "max_concurrent"})
            tolerance = (self.integer(w["failure_tolerance"], f"{key}.failure_tolerance", 0)
                         if "failure_tolerance" in w else None)
            concurrent = (self.integer(w["max_concurrent"], f"{key}.max_concurrent", 1, 1000)
                          if "max_concurrent" in w else None)
            if ("count" in w) == ("percent" in w):
                self.bad(key, "exactly one of count: N or percent: P")
            elif "count" in w:
                waves.append(Wave(self.integer(w["count"], f"{key}.count", 1), None, tolerance, concurrent))
            else:
                waves.append(Wave(None, self.integer(w["percent"], f"{key}.percent", 1, 100), tolerance, concurrent))
        if prod.get("waves") is not None and not waves and isinstance(prod.get("waves"), list):
            self.bad("environments.prod.waves", "at least one wave")
        if waves and waves[-1].percent != 100:
            self.bad(f"environments.prod.waves[{len(waves) - 1}]",
                     "a last wave of {percent: 100}, so every target account is reached")
        return Environments(
            beta_accounts, gamma_accounts, bake, targets, tuple(waves),
            self.integer(prod.get("max_concurrent"), "environments.prod.max_concurrent", 1, 1000, default=10),
            self.integer(prod.get("failure_tolerance"), "environments.prod.failure_tolerance", 0, default=0),
        )

    def template_path(self, data: Any, key: str) -> str:
        rel = self.string(data, key, what="a template path relative to the config's folder")
        if rel and not (self.path.parent / rel).is_file():
            self.bad(key, f"an existing template file, {rel!r} not found under {self.path.parent}")
        return rel

    def baselines(self, data: Any, regions: set[str]) -> tuple[Baseline, ...]:
        out = []
        for i, raw in enumerate(self.seq(data, "baselines")):
            key = f"baselines[{i}]"
            d = self.mapping(raw, key)
            self.unknown_keys(d, key, {"name", "template", "regions", "parameters"})
            name = self.string(d.get("name"), f"{key}.name", NAME, "a baseline name")
            template = self.template_path(d.get("template"), f"{key}.template")
            regs = []
            for j, r in enumerate(self.seq(d.get("regions"), f"{key}.regions")):
                r = self.string(r, f"{key}.regions[{j}]", REGION, "an AWS region")
                if r and regions and r not in regions:
                    self.bad(f"{key}.regions[{j}]", f"one of organization.regions {sorted(regions)}, got {r!r}")
                regs.append(r)
            params = self.tags(d.get("parameters"), f"{key}.parameters")
            out.append(Baseline(name, template, tuple(regs), params))
        return tuple(out)

    def guardrails(self, data: Any) -> Guardrails:
        d = self.mapping(data, "guardrails", required=False)
        self.unknown_keys(d, "guardrails", {"scps", "services", "securityhub_standards"})
        scps = []
        for i, p in enumerate(self.seq(d.get("scps"), "guardrails.scps", required=False)):
            p = self.string(p, f"guardrails.scps[{i}]", what="a policy file path")
            if p and not (self.path.parent / p).is_file():
                self.bad(f"guardrails.scps[{i}]", f"an existing SCP JSON file, {p!r} not found")
            scps.append(p)
        services = []
        for i, s in enumerate(self.seq(d.get("services"), "guardrails.services", required=False)):
            s = self.string(s, f"guardrails.services[{i}]", what="a service name")
            if s not in GUARDRAIL_SERVICES:
                self.bad(f"guardrails.services[{i}]", f"one of {sorted(GUARDRAIL_SERVICES)}, got {s!r}")
            services.append(s)
        standards = Guardrails.securityhub_standards
        if "securityhub_standards" in d:
            standards = tuple(
                self.string(x, f"guardrails.securityhub_standards[{i}]", SECURITYHUB_STANDARD,
                            "a Security Hub standard such as aws-foundational-security-best-practices/v/1.0.0 "
                            "or its ARN")
                for i, x in enumerate(self.seq(d["securityhub_standards"], "guardrails.securityhub_standards",
                                               required=False)))
        return Guardrails(tuple(scps), tuple(services), standards)

    def vending(self, data: Any, default_backend: str) -> Vending:
        d = self.mapping(data, "vending", required=False)
        self.unknown_keys(d, "vending", {"backend", "readiness_timeout_minutes", "poll_seconds",
                                         "account_factory_product", "sso_first_name", "sso_last_name"})
        backend = self.string(d.get("backend", default_backend), "vending.backend", what="a string")
        if backend not in VENDING_BACKENDS:
            self.bad("vending.backend", f"one of {sorted(VENDING_BACKENDS)}, got {backend!r}")
        timeout = self.integer(d.get("readiness_timeout_minutes"), "vending.readiness_timeout_minutes", 1, 24 * 60,
                               default=Vending.readiness_timeout_minutes)
        poll = self.integer(d.get("poll_seconds"), "vending.poll_seconds", 1, 3600, default=Vending.poll_seconds)
        product = self.string(d.get("account_factory_product", Vending.account_factory_product),
                              "vending.account_factory_product", what="a Service Catalog product name")
        first = self.string(d.get("sso_first_name", Vending.sso_first_name), "vending.sso_first_name", what="a name")
        last = self.string(d.get("sso_last_name", Vending.sso_last_name), "vending.sso_last_name", what="a name")
        return Vending(backend, timeout, poll, product, first, last)

    def catalog(self, data: Any, ou_names: set[str], account_names: set[str] | None = None) -> Catalog:
        d = self.mapping(data, "catalog")
        self.unknown_keys(d, "catalog", {"portfolio", "products", "keep_versions", "launch_role_template",
                                         "tag_options", "smoke_test"})
        p = self.mapping(d.get("portfolio"), "catalog.portfolio")
        self.unknown_keys(p, "catalog.portfolio", {"name", "provider", "share_with", "principals"})
        share = self.mapping(p.get("share_with"), "catalog.portfolio.share_with", required=False)
        share_ous = []
        for i, ou in enumerate(self.seq(share.get("ous"), "catalog.portfolio.share_with.ous", required=False)):
            ou = self.string(ou, f"catalog.portfolio.share_with.ous[{i}]", what="an OU name")
            if ou and ou not in ou_names:
                self.bad(f"catalog.portfolio.share_with.ous[{i}]", f"an OU declared under ous, got {ou!r}")
            share_ous.append(ou)
        principals = tuple(
            self.string(x, f"catalog.portfolio.principals[{i}]", re.compile(r"^role/[\w+=,.@/-]+$"),
                        "an IAM principal such as role/Developer")
            for i, x in enumerate(self.seq(p.get("principals"), "catalog.portfolio.principals", required=False)))
        products = []
        for i, raw in enumerate(self.seq(d.get("products"), "catalog.products")):
            key = f"catalog.products[{i}]"
            pd = self.mapping(raw, key)
            self.unknown_keys(pd, key, {"name", "template", "owner", "launch_role", "description"})
            products.append(Product(
                name=self.string(pd.get("name"), f"{key}.name", NAME, "a product name"),
                template=self.template_path(pd.get("template"), f"{key}.template"),
                owner=self.string(pd.get("owner", "Platform Team"), f"{key}.owner"),
                launch_role=self.string(pd.get("launch_role"), f"{key}.launch_role", NAME, "an IAM role name",
                                        required=False) or None,
                description=self.string(pd.get("description", ""), f"{key}.description", required=False),
            ))
        return Catalog(
            portfolio_name=self.string(p.get("name"), "catalog.portfolio.name", what="a portfolio name"),
            provider=self.string(p.get("provider", "Platform Team"), "catalog.portfolio.provider"),
            share_ous=tuple(share_ous), principals=principals, products=tuple(products),
            keep_versions=self.integer(d.get("keep_versions"), "catalog.keep_versions", 1, 100, default=3),
            launch_role_template=(self.template_path(d["launch_role_template"], "catalog.launch_role_template")
                                  if d.get("launch_role_template") is not None else self.default_launch_role()),
            tag_options=self.tag_options(d.get("tag_options")),
            smoke_test=self.smoke_test(d.get("smoke_test"), account_names,
                                       {p.name for p in products}),
        )

    def default_launch_role(self) -> str | None:
        # Without the template the launch role must already exist where products are launched.
        rel = "templates/catalog-launch-role.yaml"
        return rel if (self.path.parent / rel).is_file() else None

    def tag_options(self, data: Any) -> tuple[tuple[str, str], ...]:
        """``{key: value}`` or ``{key: [values]}`` -> (key, value) pairs (Service Catalog TagOptions)."""
        d = self.mapping(data, "catalog.tag_options", required=False)
        out = []
        for k, v in d.items():
            key = f"catalog.tag_options.{k}"
            if not isinstance(k, str) or not 1 <= len(k) <= 128:
                self.bad(key, "a tag key of 1 to 128 characters")
                continue
            values = v if isinstance(v, list) else [v]
            if not values:
                self.bad(key, "at least one value")
            for i, value in enumerate(values):
                value = self.string(value, f"{key}[{i}]" if isinstance(v, list) else key, what="a tag value")
                if value and len(value) > 256:
                    self.bad(key, "tag values of at most 256 characters")
                elif value:
                    out.append((k, value))
        return tuple(out)

    def smoke_test(self, data: Any, account_names: set[str] | None, product_names: set[str]) -> SmokeTest | None:
        if data is None or data is False:
            return None
        d = self.mapping(data, "catalog.smoke_test")
        self.unknown_keys(d, "catalog.smoke_test", {"account", "principal", "product", "parameters",
                                                    "create_principal"})
        account = self.string(d.get("account"), "catalog.smoke_test.account", NAME, "an account name")
        if account and account_names is not None and account not in account_names:
            self.bad("catalog.smoke_test.account", f"an account declared under accounts, got {account!r}")
        principal = self.string(d.get("principal", "role/Developer"), "catalog.smoke_test.principal",
                                re.compile(r"^role/[\w+=,.@-]+$"), "an IAM role such as role/Developer")
        product = self.string(d.get("product"), "catalog.smoke_test.product", required=False) or None
        if product and product not in product_names:
            self.bad("catalog.smoke_test.product", f"one of the catalog's products {sorted(product_names)}, "
                                                   f"got {product!r}")
        create = d.get("create_principal", True)
        if not isinstance(create, bool):
            self.bad("catalog.smoke_test.create_principal", f"true or false, got {create!r}")
            create = True
        params = self.tags(d.get("parameters"), "catalog.smoke_test.parameters") if d.get("parameters") else {}
        return SmokeTest(account, principal, product, dict(params), create)

    def approval(self, data: Any) -> Approval:
        d = self.mapping(data, "approval")
        self.unknown_keys(d, "approval", {"approvers", "timeout_hours", "auto_approve_empty_plan", "store",
                                          "table", "topic", "ui"})
        approvers = tuple(self.string(a, f"approval.approvers[{i}]", NAME, "an approver id")
                          for i, a in enumerate(self.seq(d.get("approvers"), "approval.approvers")))
        if isinstance(d.get("approvers"), list) and not approvers:
            self.bad("approval.approvers", "at least one approver")
        timeout = d.get("timeout_hours", 24)
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 0 < timeout <= 24 * 30:
            self.bad("approval.timeout_hours", f"a number of hours above 0 and at most 720, got {timeout!r}")
            timeout = 24
        auto = d.get("auto_approve_empty_plan", True)
        if not isinstance(auto, bool):
            self.bad("approval.auto_approve_empty_plan", f"true or false, got {auto!r}")
            auto = False
        store = d.get("store", "s3")
        if store not in ("s3", "dynamodb"):
            self.bad("approval.store", f"s3 or dynamodb, got {store!r}")
            store = "s3"
        table = self.string(d.get("table", "fleet-approvals"), "approval.table", re.compile(r"^[A-Za-z0-9_.-]{3,255}$"),
                            "a DynamoDB table name")
        topic = self.string(d.get("topic", "fleet-approvals"), "approval.topic", re.compile(r"^[A-Za-z0-9_-]{1,256}$"),
                            "an SNS topic name")
        ui = d.get("ui", False)
        if not isinstance(ui, bool):
            self.bad("approval.ui", f"true or false, got {ui!r}")
            ui = False
        return Approval(approvers, float(timeout), auto, store, table, topic, ui)
