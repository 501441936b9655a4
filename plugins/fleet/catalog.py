"""Service Catalog: the portfolio, its products, one version per bundle digest, principals, shares.

Every step looks before it creates, so a rerun with the same bundle changes nothing, and a new
bundle adds exactly one provisioning artifact per product. The lifecycle, in order:

1. the least-privilege launch role (``include/templates/catalog-launch-role.yaml``) as a stack in
   the management account and in every account of the shared OUs: a LAUNCH constraint with
   ``LocalRoleName`` must name a role that exists in the account that creates the constraint and
   in each account where an end user launches (Service Catalog Admin Guide, launch constraints);
2. the portfolio, tag options on it, the products with one version per bundle digest (older
   ones beyond ``catalog.keep_versions`` DEPRECATED), the LAUNCH constraint per product;
3. IAM_PATTERN principals, the share to each OU (principals shared), and the share accepted
   (AcceptPortfolioShare, AWS_ORGANIZATIONS) in every account of those OUs;

Afterwards ``fleet.catalog_smoke`` launches a product as an end user and checks it.
"""

from __future__ import annotations

import hashlib
import json
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fleet.paths import inside
from fleet import stacks
from fleet.aws import AwsContext, error_code
from fleet.bundle import OpenBundle
from fleet.config import FleetConfig, Product
from fleet.deploy import deploy_all
from fleet.org import LiveAccount, OrgView

MANAGED = {"Key": "fleet:managed-by", "Value": "fleet-pipeline"}
LAUNCH_ROLE_STACK = "fleet-catalog-launch-role"


@dataclass
class ProductVersion:
    product: str
    product_id: str
    artifact_id: str
    version: str
    created: bool
    deprecated: list[str] = field(default_factory=list)
    constraint: str | None = None  # "created" | "replaced" | "unchanged" | None (no launch role)


def _token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def ensure_portfolio(sc, fleet: FleetConfig) -> str:
    name = fleet.catalog.portfolio_name
    for page in sc.get_paginator("list_portfolios").paginate():
        for p in page["PortfolioDetails"]:
            if p["DisplayName"] == name:
                return p["Id"]
    resp = sc.create_portfolio(DisplayName=name, ProviderName=fleet.catalog.provider,
                               Description="Shared services published by fleet-pipeline",
                               Tags=[{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}],
                               IdempotencyToken=_token("portfolio", name))
    return resp["PortfolioDetail"]["Id"]


def _find_product(sc, name: str) -> str | None:
    for page in sc.get_paginator("search_products_as_admin").paginate(Filters={"FullTextSearch": [name]}):
        for view in page.get("ProductViewDetails", []):
            summary = view["ProductViewSummary"]
            if summary["Name"] == name:
                return summary["ProductId"]
    return None


def _put_once(s3, bucket: str, key: str, body: bytes) -> None:
    try:
        s3.head_object(Bucket=bucket, Key=key)
        return  # keyed by digest: the same key always holds the same bytes
    except Exception as exc:
        if error_code(exc) not in {"404", "NoSuchKey", "NotFound"}:
            raise
    s3.put_object(Bucket=bucket, Key=key, Body=body)


def version_description(digest: str, commit: str | None) -> str:
    return (f"commit {commit[:12]}, " if commit else "uncommitted tree, ") + f"bundle {digest}"


def publish_product(ctx: AwsContext, fleet: FleetConfig, product: Product, portfolio_id: str, *, bundle_dir: Path,
                    digest: str, commit: str | None, bucket: str) -> ProductVersion:
    sc = ctx.client("servicecatalog")
    key = f"catalog/{product.name}/{digest}/template.yaml"
    _put_once(ctx.client("s3"), bucket, key, inside(bundle_dir, product.template).read_bytes())
    url = template_url(bucket, ctx.region, key)
    description = version_description(digest, commit)
    product_id = _find_product(sc, product.name)
    created = False
    if product_id is None:
        resp = sc.create_product(
            Name=product.name, Owner=product.owner, Description=product.description or product.name,
            ProductType="CLOUD_FORMATION_TEMPLATE", Tags=[{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}],
            ProvisioningArtifactParameters={"Name": f"v1-{digest[:12]}", "Description": description,
                                            "Info": {"LoadTemplateFromURL": url},
                                            "Type": "CLOUD_FORMATION_TEMPLATE"},
            IdempotencyToken=_token("product", product.name))
        product_id = resp["ProductViewDetail"]["ProductViewSummary"]["ProductId"]
        created = True
    artifacts = sc.list_provisioning_artifacts(ProductId=product_id)["ProvisioningArtifactDetails"]
    mine = [a for a in artifacts if a["Name"].endswith(digest[:12])]
    if mine:
        artifact = mine[0]
    else:
        artifact = sc.create_provisioning_artifact(
            ProductId=product_id, IdempotencyToken=_token("artifact", product_id, digest),
            Parameters={"Name": f"v{len(artifacts) + 1}-{digest[:12]}", "Description": description,
                        "Info": {"LoadTemplateFromURL": url}, "Type": "CLOUD_FORMATION_TEMPLATE"},
        )["ProvisioningArtifactDetail"]
        artifacts.append(artifact)
        created = True
    linked = {p["Id"] for page in sc.get_paginator("list_portfolios_for_product").paginate(ProductId=product_id)
              for p in page["PortfolioDetails"]}
    if portfolio_id not in linked:
        sc.associate_product_with_portfolio(ProductId=product_id, PortfolioId=portfolio_id)
    deprecated = _deprecate_old(sc, product_id, artifacts, keep=fleet.catalog.keep_versions)
    return ProductVersion(product.name, product_id, artifact["Id"], artifact["Name"], created, deprecated,
                          constraint=ensure_launch_constraint(sc, portfolio_id, product_id, product.launch_role))


def _deprecate_old(sc, product_id: str, artifacts: list[dict], keep: int) -> list[str]:
    """Mark all but the newest ``keep`` versions DEPRECATED: still provisioned, no longer offered."""
    ordered = sorted(artifacts, key=lambda a: _version_number(a["Name"]))
    done = []
    for old in ordered[:-keep]:
        detail = sc.describe_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=old["Id"])
        if detail["ProvisioningArtifactDetail"].get("Guidance") != "DEPRECATED":
            sc.update_provisioning_artifact(ProductId=product_id, ProvisioningArtifactId=old["Id"],
                                            Guidance="DEPRECATED")
            done.append(old["Name"])
    return done


def _version_number(name: str) -> int:
    head = name.split("-", 1)[0].lstrip("v")
    return int(head) if head.isdigit() else 0


def ensure_principals(sc, portfolio_id: str, principals: tuple[str, ...], partition: str = "aws") -> list[str]:
    """IAM_PATTERN principals reach the same role name in every account the portfolio is shared to."""
    have = {p["PrincipalARN"] for page in sc.get_paginator("list_principals_for_portfolio").paginate(
        PortfolioId=portfolio_id) for p in page["Principals"]}
    wanted = [f"arn:{partition}:iam:::{p}" for p in principals]
    for arn in wanted:
        if arn not in have:
            sc.associate_principal_with_portfolio(PortfolioId=portfolio_id, PrincipalARN=arn,
                                                  PrincipalType="IAM_PATTERN")
    return wanted


def _portfolio_shares(sc, portfolio_id: str, kind: str) -> list[dict]:
    # botocore has no paginator for DescribePortfolioShares, though the API pages with PageToken.
    out, token = [], None
    while True:
        page = sc.describe_portfolio_shares(PortfolioId=portfolio_id, Type=kind,
                                            **({"PageToken": token} if token else {}))
        out += page.get("PortfolioShareDetails", [])
        token = page.get("NextPageToken")
        if not token:
            return out


def ensure_shares(sc, portfolio_id: str, org: OrgView, ou_names: tuple[str, ...]) -> list[dict]:
    if not ou_names:
        return []
    try:
        sc.enable_aws_organizations_access()
    except Exception as exc:  # already enabled is the steady state
        if error_code(exc) not in {"InvalidStateException"}:
            raise
    shared = {s["PrincipalId"] for s in _portfolio_shares(sc, portfolio_id, "ORGANIZATIONAL_UNIT")}
    out = []
    for name in ou_names:
        ou_id = org.ou_id(name)
        if ou_id not in shared:
            sc.create_portfolio_share(PortfolioId=portfolio_id, SharePrincipals=True,
                                      OrganizationNode={"Type": "ORGANIZATIONAL_UNIT", "Value": ou_id})
        out.append({"ou": name, "ou_id": ou_id, "new": ou_id not in shared})
    return out


def ensure_launch_constraint(sc, portfolio_id: str, product_id: str, role_name: str | None) -> str | None:
    """One LAUNCH constraint per product in the portfolio, naming the launch role by LocalRoleName.

    LocalRoleName (not RoleArn) because the portfolio is shared: the role resolves in the account
    that launches, so one constraint serves every account of the shared OUs.
    """
    if not role_name:
        return None
    wanted = {"LocalRoleName": role_name}
    existing = [c for page in sc.get_paginator("list_constraints_for_portfolio").paginate(
        PortfolioId=portfolio_id, ProductId=product_id) for c in page["ConstraintDetails"] if c["Type"] == "LAUNCH"]
    outcome = "created"
    for c in existing:
        params = json.loads(sc.describe_constraint(Id=c["ConstraintId"])["ConstraintParameters"])
        if params == wanted:
            return "unchanged"
        sc.delete_constraint(Id=c["ConstraintId"])  # another role: AWS allows one LAUNCH per product
        outcome = "replaced"
    sc.create_constraint(PortfolioId=portfolio_id, ProductId=product_id, Type="LAUNCH",
                         Parameters=json.dumps(wanted), Description=f"launch as {role_name} (fleet-pipeline)",
                         IdempotencyToken=_token("launch", portfolio_id, product_id, role_name))
    return outcome


def ensure_tag_options(sc, portfolio_id: str, pairs: tuple[tuple[str, str], ...]) -> list[dict]:
    """TagOptions (key/value choices end users must tag their launches with) on the portfolio."""
    if not pairs:
        return []
    attached = {t["Id"] for t in sc.describe_portfolio(Id=portfolio_id).get("TagOptions", [])}
    out = []
    for key, value in pairs:
        found = [t for page in sc.get_paginator("list_tag_options").paginate(Filters={"Key": key, "Value": value})
                 for t in page["TagOptionDetails"] if t["Key"] == key and t["Value"] == value]
        new = not found
        tag_id = found[0]["Id"] if found else sc.create_tag_option(Key=key, Value=value)["TagOptionDetail"]["Id"]
        if tag_id not in attached:
            sc.associate_tag_option_with_resource(ResourceId=portfolio_id, TagOptionId=tag_id)
            new = True
        out.append({"key": key, "value": value, "id": tag_id, "new": new})
    return out


def shared_accounts(org: OrgView, ou_names: tuple[str, ...], management_account: str) -> list[LiveAccount]:
    """ACTIVE accounts at or below the shared OUs (nested OUs included, as an OU share reaches them)."""
    wanted = set(ou_names)
    return sorted((a for a in org.accounts if a.status == "ACTIVE" and a.id != management_account
                   and wanted & set(a.ou_path)), key=lambda a: a.name)


def launch_role_targets(ctx: AwsContext, fleet: FleetConfig, org: OrgView, bundle_dir: Path) -> list[stacks.StackTarget]:
    """The launch role stack in the management account and in every account of the shared OUs."""
    rel = fleet.catalog.launch_role_template
    roles = sorted({p.launch_role for p in fleet.catalog.products if p.launch_role})
    if not rel or not roles:
        return []
    body = inside(bundle_dir, rel).read_text(encoding="utf-8")
    mgmt = ctx.management_account()
    accounts = [(mgmt, "management")] + [(a.id, a.name) for a in shared_accounts(org, fleet.catalog.share_ous, mgmt)]
    tags = {MANAGED["Key"]: MANAGED["Value"], "fleet:purpose": "service-catalog-launch"}
    return [stacks.StackTarget(acct, name, ctx.region, launch_role_stack(role), body, {"RoleName": role}, tags)
            for acct, name in accounts for role in roles]


def launch_role_stack(role: str) -> str:
    return f"{LAUNCH_ROLE_STACK}-" + re.sub(r"[^A-Za-z0-9-]", "-", role)


def ensure_launch_roles(ctx: AwsContext, fleet: FleetConfig, org: OrgView, bundle_dir: Path,
                        max_concurrent: int = 10) -> list[dict]:
    """Deploy the launch role stacks (change sets, named after the template's own digest)."""
    targets = launch_role_targets(ctx, fleet, org, bundle_dir)
    if not targets:
        return []
    digest = hashlib.sha256(targets[0].template_body.encode()).hexdigest()
    results = deploy_all(ctx, targets, digest, max_concurrent=max_concurrent)
    failed = [f"{r.account_name}: {r.error}" for r in results if r.status == "failed"]
    if failed:
        raise CatalogError("launch role not deployed in " + "; ".join(failed))
    return [{"account": r.account_name, "account_id": r.account_id, "stack": r.stack_name, "status": r.status,
             "role_arn": r.outputs.get("LaunchRoleArn")} for r in results]


def accept_shares(ctx: AwsContext, portfolio_id: str, org: OrgView, ou_names: tuple[str, ...],
                  max_concurrent: int = 10) -> list[dict]:
    """AcceptPortfolioShare (AWS_ORGANIZATIONS) in each account of the shared OUs, through the pipeline role.

    Without acceptance an organization share is visible to the recipient's administrators but its
    products are not offered to end users.
    """
    accounts = shared_accounts(org, ou_names, ctx.management_account())

    def one(acct: LiveAccount) -> dict:
        sc = ctx.client("servicecatalog", acct.id)
        accepted = {p["Id"] for page in sc.get_paginator("list_accepted_portfolio_shares").paginate(
            PortfolioShareType="AWS_ORGANIZATIONS") for p in page["PortfolioDetails"]}
        if portfolio_id in accepted:
            return {"account": acct.name, "account_id": acct.id, "new": False}
        sc.accept_portfolio_share(PortfolioId=portfolio_id, PortfolioShareType="AWS_ORGANIZATIONS")
        return {"account": acct.name, "account_id": acct.id, "new": True}

    if not accounts:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(accounts)))) as pool:
        return list(pool.map(one, accounts))


class CatalogError(RuntimeError):
    pass


def publish(ctx: AwsContext, bundle: OpenBundle, org: OrgView) -> dict:
    """The catalog as the bundle's config describes it, with this bundle's version of every product."""
    fleet, bundle_dir = bundle.config, bundle.root
    digest, commit, bucket = bundle.digest, bundle.ref.commit, bundle.bucket
    sc = ctx.client("servicecatalog")
    launch_roles = ensure_launch_roles(ctx, fleet, org, bundle_dir)
    portfolio_id = ensure_portfolio(sc, fleet)
    tag_options = ensure_tag_options(sc, portfolio_id, fleet.catalog.tag_options)
    versions = [publish_product(ctx, fleet, p, portfolio_id, bundle_dir=bundle_dir, digest=digest, commit=commit,
                                bucket=bucket) for p in fleet.catalog.products]
    principals = ensure_principals(sc, portfolio_id, fleet.catalog.principals, ctx.partition)
    shares = ensure_shares(sc, portfolio_id, org, fleet.catalog.share_ous)
    accepted = accept_shares(ctx, portfolio_id, org, fleet.catalog.share_ous)
    changes = (sum(v.created or bool(v.deprecated) or v.constraint not in (None, "unchanged") for v in versions)
               + sum(r["status"] not in ("unchanged",) for r in launch_roles)
               + sum(t["new"] for t in tag_options) + sum(s["new"] for s in shares) + sum(a["new"] for a in accepted))
    return {"portfolio_id": portfolio_id, "products": [v.__dict__ for v in versions],
            "principals": principals, "shares": shares, "accepted": accepted, "tag_options": tag_options,
            "launch_roles": launch_roles, "changes": changes}
