"""The catalog's end-user smoke test: launch a published version in a canary account as the
principal the portfolio names, check its resources through their own APIs, terminate it.

Everything runs through the AwsContext: the end user's clients are the context's clients for the
assumed end-user role, and records are awaited with a botocore waiter, bounded in time.
"""

from __future__ import annotations

import json
import math
import uuid

from botocore.exceptions import WaiterError
from botocore.waiter import WaiterModel, create_waiter_with_client

from fleet.aws import AwsContext, error_code
from fleet.catalog import MANAGED, CatalogError
from fleet.config import FleetConfig
from fleet.org import OrgView

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


# Service Catalog has no waiter of its own for records; this one is declared the way botocore's are.
# Both SUCCEEDED and FAILED end the wait: the caller reads the record and judges it.
_RECORD_WAITERS = WaiterModel({"version": 2, "waiters": {"RecordDone": {
    "operation": "DescribeRecord", "delay": 2, "maxAttempts": 450,
    "acceptors": [{"matcher": "path", "argument": "RecordDetail.Status", "expected": status, "state": "success"}
                  for status in ("SUCCEEDED", "FAILED")]}}})


def _wait_record(sc, record_id: str, timeout: float = 900, poll: float = 2.0) -> dict:
    waiter = create_waiter_with_client("RecordDone", _RECORD_WAITERS, sc)
    try:
        waiter.wait(Id=record_id, WaiterConfig={"Delay": poll, "MaxAttempts": max(1, math.ceil(timeout / poll))})
    except WaiterError as exc:
        status = (exc.last_response or {}).get("RecordDetail", {}).get("Status", "unknown")
        raise CatalogError(f"record {record_id} still {status} after {timeout:.0f}s") from exc
    return sc.describe_record(Id=record_id)


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
    end_user = ctx.client_as("servicecatalog", role_arn, via_account=account.id,
                             session_name="fleet-catalog-smoke-test")
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

