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
4. afterwards, ``smoke_test``: an end user launches a product in a canary account, the
   resources are checked through their own APIs, and the product is terminated.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fleet import stacks
from fleet.aws import AwsContext, error_code
from fleet.org import LiveAccount, OrgView
from fleet.config import FleetConfig, Product

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
    _put_once(ctx.client("s3"), bucket, key, (bundle_dir / product.template).read_bytes())
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
    body = (bundle_dir / rel).read_text(encoding="utf-8")
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
    from fleet import rollout

    targets = launch_role_targets(ctx, fleet, org, bundle_dir)
    if not targets:
        return []
    digest = hashlib.sha256(targets[0].template_body.encode()).hexdigest()
    results = rollout.deploy_all(ctx, targets, digest, max_concurrent=max_concurrent)
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


def publish(ctx: AwsContext, fleet: FleetConfig, org: OrgView, *, bundle_dir: Path, digest: str, commit: str | None,
            bucket: str) -> dict:
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


# -- smoke test: an end user launches, the resources are checked, the product is terminated --------

def _client_as(ctx: AwsContext, service: str, creds: dict):
    endpoint = ctx.endpoint_url(service) if callable(ctx.endpoint_url) else ctx.endpoint_url
    return ctx.session.client(service, region_name=ctx.region, endpoint_url=endpoint, config=ctx.config,
                              aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                              aws_session_token=creds["SessionToken"])


# What an end user does with the catalog, and nothing else: the launch itself runs as the launch role.
END_USER_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Sid": "ServiceCatalogEndUser", "Effect": "Allow", "Resource": "*",
    "Action": ["servicecatalog:SearchProducts", "servicecatalog:DescribeProduct",
               "servicecatalog:DescribeProductView", "servicecatalog:DescribeProvisioningArtifact",
               "servicecatalog:ListLaunchPaths", "servicecatalog:DescribeProvisioningParameters",
               "servicecatalog:ProvisionProduct", "servicecatalog:UpdateProvisionedProduct",
               "servicecatalog:TerminateProvisionedProduct", "servicecatalog:DescribeProvisionedProduct",
               "servicecatalog:SearchProvisionedProducts", "servicecatalog:ScanProvisionedProducts",
               "servicecatalog:GetProvisionedProductOutputs", "servicecatalog:DescribeRecord",
               "servicecatalog:ListRecordHistory"]}]}


def ensure_end_user_role(ctx: AwsContext, account_id: str, role_name: str, create: bool) -> tuple[str, bool]:
    """The end-user role the portfolio's principals name, in the smoke-test account.

    Created when missing (``smoke_test.create_principal``): trusted by the pipeline role of that
    account only, allowed the Service Catalog end-user actions and nothing else.
    """
    iam = ctx.client("iam", account_id)
    try:
        return iam.get_role(RoleName=role_name)["Role"]["Arn"], False
    except Exception as exc:
        if error_code(exc) != "NoSuchEntity":
            raise
    if not create:
        raise CatalogError(f"role {role_name} does not exist in account {account_id} and "
                           "catalog.smoke_test.create_principal is false")
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "sts:AssumeRole",
        "Principal": {"AWS": f"arn:{ctx.partition}:iam::{account_id}:role/{ctx.pipeline_role}"}}]}
    arn = iam.create_role(RoleName=role_name, AssumeRolePolicyDocument=json.dumps(trust),
                          Description="Service Catalog end user (made by fleet-pipeline for its smoke test)",
                          Tags=[MANAGED])["Role"]["Arn"]
    iam.put_role_policy(RoleName=role_name, PolicyName="service-catalog-end-user",
                        PolicyDocument=json.dumps(END_USER_POLICY))
    return arn, True


def _wait_record(sc, record_id: str, timeout: float = 900, poll: float = 2.0) -> dict:
    deadline = time.time() + timeout
    while True:
        detail = sc.describe_record(Id=record_id)
        if detail["RecordDetail"]["Status"] not in ("CREATED", "IN_PROGRESS", "IN_PROGRESS_IN_ERROR"):
            return detail
        if time.time() > deadline:
            raise CatalogError(f"record {record_id} still {detail['RecordDetail']['Status']} after {timeout:.0f}s")
        time.sleep(poll)


def _check(name: str, ok: bool, detail: str) -> dict:
    return {"name": name, "ok": bool(ok), "detail": detail}


def check_bucket(s3, bucket: str) -> list[dict]:
    """The encrypted-bucket product's promises, read back through S3."""
    checks = []
    try:
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        algo = rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"]
        checks.append(_check("bucket encrypted with KMS", algo == "aws:kms", algo))
    except Exception as exc:
        checks.append(_check("bucket encrypted with KMS", False, f"{error_code(exc) or exc}"))
    status = s3.get_bucket_versioning(Bucket=bucket).get("Status", "never enabled")
    checks.append(_check("bucket versioning enabled", status == "Enabled", status))
    try:
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        checks.append(_check("public access blocked", all(pab.values()) and len(pab) == 4, json.dumps(pab)))
    except Exception as exc:
        checks.append(_check("public access blocked", False, f"{error_code(exc) or exc}"))
    return checks


def _empty_and_delete_bucket(s3, bucket: str) -> None:
    """The product retains its bucket on termination (DeletionPolicy: Retain); the smoke test's is removed."""
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in page.get("Versions", []) + page.get(
            "DeleteMarkers", [])]
        if items:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": items})
    s3.delete_bucket(Bucket=bucket)


def smoke_test(ctx: AwsContext, fleet: FleetConfig, org: OrgView, published: dict, *, log=print) -> dict:
    """Launch each published version in the smoke-test account as the end-user principal, check, terminate."""
    cfg = fleet.catalog.smoke_test
    account = org.resolve_names(fleet, [cfg.account])[0]
    role_name = cfg.principal.split("/", 1)[1]
    role_arn, made = ensure_end_user_role(ctx, account.id, role_name, cfg.create_principal)
    creds = ctx.client("sts", account.id).assume_role(RoleArn=role_arn, RoleSessionName="fleet-catalog-smoke-test")
    end_user = _client_as(ctx, "servicecatalog", creds["Credentials"])
    admin_s3 = ctx.client("s3", account.id)
    iam = ctx.client("iam", account.id)
    results = []
    for version in published["products"]:
        if cfg.product and version["product"] != cfg.product:
            continue
        product = next(p for p in fleet.catalog.products if p.name == version["product"])
        checks: list[dict] = []
        name = f"fleet-smoke-{product.name}"[:100]
        offered = _offered(end_user)
        checks.append(_check(f"{cfg.principal} in {account.name} is offered the product",
                             version["product_id"] in offered, f"{len(offered)} product(s) offered"))
        if version["product_id"] not in offered:
            results.append({"product": product.name, "version": version["version"], "checks": checks})
            continue
        # A smoke product left behind by an interrupted earlier attempt is terminated first.
        for pp in end_user.search_provisioned_products(Filters={"SearchQuery": [f"name:{name}"]},
                                                       PageSize=100)["ProvisionedProducts"]:
            if pp["Name"] == name:
                _terminate(end_user, admin_s3, pp["Id"], None)
        paths = end_user.list_launch_paths(ProductId=version["product_id"])["LaunchPathSummaries"]
        path = next(p for p in paths if p["Name"] == fleet.catalog.portfolio_name)
        record = end_user.provision_product(
            ProductId=version["product_id"], ProvisioningArtifactId=version["artifact_id"], PathId=path["Id"],
            ProvisionedProductName=name, ProvisionToken=uuid.uuid4().hex,
            ProvisioningParameters=[{"Key": k, "Value": v} for k, v in cfg.parameters.items()],
            Tags=[{"Key": k, "Value": v} for k, v in _first_tag_options(fleet)] + [MANAGED],
        )["RecordDetail"]
        described = _wait_record(end_user, record["RecordId"])
        detail = described["RecordDetail"]
        pp_id = detail["ProvisionedProductId"]
        checks.append(_check("provisioned", detail["Status"] == "SUCCEEDED",
                             f"record {detail['RecordId']} {detail['Status']} {detail.get('RecordErrors') or ''}"))
        if product.launch_role:
            expected = f"arn:{ctx.partition}:iam::{account.id}:role/{product.launch_role}"
            try:
                iam.get_role(RoleName=product.launch_role)
                exists = True
            except Exception:
                exists = False
            checks.append(_check("launched with the account's own launch role",
                                 detail.get("LaunchRoleArn") == expected and exists,
                                 f"{detail.get('LaunchRoleArn')} (role exists in {account.name}: {exists})"))
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("RecordOutputs", [])}
        bucket = outputs.get("BucketName")
        if bucket:
            checks += check_bucket(admin_s3, bucket)
        terminated = _terminate(end_user, admin_s3, pp_id, bucket)
        checks.append(_check("terminated", terminated == "SUCCEEDED", terminated))
        log(f"smoke test {product.name} {version['version']} in {account.name} as {cfg.principal}: "
            + ", ".join(f"{'PASS' if c['ok'] else 'FAIL'} {c['name']}" for c in checks))
        results.append({"product": product.name, "version": version["version"], "provisioned_product": pp_id,
                        "outputs": outputs, "checks": checks})
    failed = [f"{r['product']}: {c['name']} ({c['detail']})" for r in results for c in r["checks"] if not c["ok"]]
    return {"account": account.name, "account_id": account.id, "principal": role_arn, "principal_created": made,
            "results": results, "failed": failed, "ok": not failed}


def _offered(end_user) -> set[str]:
    # botocore has no paginator for SearchProducts, though the API pages with PageToken.
    out, token = set(), None
    while True:
        page = end_user.search_products(**({"PageToken": token} if token else {}))
        out |= {s["ProductId"] for s in page["ProductViewSummaries"]}
        token = page.get("NextPageToken")
        if not token:
            return out


def _first_tag_options(fleet: FleetConfig) -> list[tuple[str, str]]:
    """One value per TagOption key: Service Catalog requires a launch to choose from each key."""
    seen: dict[str, str] = {}
    for k, v in fleet.catalog.tag_options:
        seen.setdefault(k, v)
    return list(seen.items())


def _terminate(end_user, admin_s3, pp_id: str, bucket: str | None) -> str:
    record = end_user.terminate_provisioned_product(ProvisionedProductId=pp_id, TerminateToken=uuid.uuid4().hex)
    status = _wait_record(end_user, record["RecordDetail"]["RecordId"])["RecordDetail"]["Status"]
    if bucket and status == "SUCCEEDED":
        try:
            _empty_and_delete_bucket(admin_s3, bucket)
        except Exception as exc:
            if error_code(exc) != "NoSuchBucket":
                raise
    return status

