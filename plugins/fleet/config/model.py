"""The typed fleet config: what the rest of the code reads once fleet.yaml has been validated."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


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
class Override:
    """Literal parameter values for some accounts or OUs (an account beats an OU, a deeper OU a higher one)."""

    accounts: tuple[str, ...] = ()
    ous: tuple[str, ...] = ()
    parameters: dict[str, str] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Baseline:
    name: str
    template: str
    regions: tuple[str, ...]
    # Values may be Jinja2 expressions over {{ account.* }} and {{ outputs.<baseline>.<Key> }} (fleet.params).
    parameters: dict[str, str] = field(default_factory=dict, hash=False)
    targets: ProdTargets | None = None  # None: every prod target
    depends_on: tuple[str, ...] = ()
    overrides: tuple[Override, ...] = ()
    on_removal: str = "delete"  # delete | retain: what happens when an account leaves it or it leaves the config
    sensitive_outputs: tuple[str, ...] = ()  # masked wherever outputs are stored or shown

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
class Approver:
    """Who may approve, and how the gate knows a decision is theirs (the pipeline holds no private key)."""

    name: str
    email: str  # their git author email (separation of duties)
    public_key: str  # an OpenSSH ssh-ed25519 public key line


@dataclass(frozen=True)
class Approval:
    approvers: tuple[Approver, ...]
    timeout_hours: float
    auto_approve_empty_plan: bool = True  # a plan with no change needs no human
    store: str = "s3"  # s3 (the artifacts bucket) | dynamodb
    table: str = "fleet-approvals"  # the DynamoDB table when store is dynamodb
    topic: str = "fleet-approvals"  # SNS topic in the management account the requests are published to
    ui: bool = False  # also offer the decision in the Airflow UI (human-in-the-loop task)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.approvers)

    def identities(self) -> list[dict]:
        """The approvers as JSON-ready dicts (what the gate verifies decisions with)."""
        return [{"name": a.name, "email": a.email, "public_key": a.public_key} for a in self.approvers]


@dataclass(frozen=True)
class Alerts:
    """Where operators hear about failures: one SNS message per event, CloudWatch metrics per run."""

    topic: str = "fleet-alerts"  # SNS topic in the management account
    metrics_namespace: str = "Fleet"  # CloudWatch namespace of the fleet metrics
    console_url: str = "http://localhost:8080"  # base URL of the Airflow UI, for the report links


@dataclass(frozen=True)
class Policies:
    # rule parameters (policies.parameters): Guard's parameters.<name>, Rego's data.parameters
    parameters: dict = field(default_factory=dict, hash=False)


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
    alerts: Alerts = Alerts()
    policies: Policies = field(default_factory=Policies)

    @property
    def root(self) -> Path:
        """The folder that holds the config; template and policy paths are relative to it."""
        return self.path.parent

    def baseline(self, name: str) -> Baseline:
        for baseline in self.baselines:
            if baseline.name == name:
                return baseline
        raise KeyError(name)

    def deployment_order(self) -> list[Baseline]:
        """The baselines with every dependency before its dependants (config order otherwise)."""
        done: dict[str, Baseline] = {}

        def visit(b: Baseline) -> None:
            if b.name not in done:
                for dep in b.depends_on:
                    visit(self.baseline(dep))
                done[b.name] = b

        for b in self.baselines:
            visit(b)
        return list(done.values())

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
