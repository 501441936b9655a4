"""Service Catalog: the portfolio, its products, one version per bundle digest, principals, shares.

Every step looks before it creates, so a rerun with the same bundle changes nothing, and a new
bundle adds exactly one provisioning artifact per product.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from fleet.aws import AwsContext, error_code
from fleet.org import OrgView
from fleet.spec import Fleet, Product


@dataclass
class ProductVersion:
    product: str
    product_id: str
    artifact_id: str
    version: str
    created: bool
    deprecated: list[str] = field(default_factory=list)


def _token(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:32]


def template_url(bucket: str, region: str, key: str) -> str:
    return f"https://{bucket}.s3.{region}.amazonaws.com/{key}"


def ensure_portfolio(sc, fleet: Fleet) -> str:
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


def publish_product(ctx: AwsContext, fleet: Fleet, product: Product, portfolio_id: str, *, bundle_dir: Path,
                    digest: str, commit: str | None, bucket: str) -> ProductVersion:
    sc = ctx.client("servicecatalog")
    key = f"catalog/{product.name}/{digest}/template.yaml"
    ctx.client("s3").put_object(Bucket=bucket, Key=key, Body=(bundle_dir / product.template).read_bytes())
    url = template_url(bucket, ctx.region, key)
    description = f"bundle {digest}" + (f" commit {commit}" if commit else "")
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
    return ProductVersion(product.name, product_id, artifact["Id"], artifact["Name"], created, deprecated)


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


def publish(ctx: AwsContext, fleet: Fleet, org: OrgView, *, bundle_dir: Path, digest: str, commit: str | None,
            bucket: str) -> dict:
    sc = ctx.client("servicecatalog")
    portfolio_id = ensure_portfolio(sc, fleet)
    versions = [publish_product(ctx, fleet, p, portfolio_id, bundle_dir=bundle_dir, digest=digest, commit=commit,
                                bucket=bucket) for p in fleet.catalog.products]
    principals = ensure_principals(sc, portfolio_id, fleet.catalog.principals, ctx.partition)
    shares = ensure_shares(sc, portfolio_id, org, fleet.catalog.share_ous)
    return {"portfolio_id": portfolio_id, "products": [v.__dict__ for v in versions],
            "principals": principals, "shares": shares}

