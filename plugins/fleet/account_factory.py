"""Control Tower's Account Factory as a vending back end: a Service Catalog product in the
management account whose ProvisionProduct creates an enrolled account.

Control Tower documents the product ("AWS Control Tower Account Factory") and its parameters
(AccountName, AccountEmail, SSOUserEmail, SSOUserFirstName, SSOUserLastName,
ManagedOrganizationalUnit). The provisioned product is named after the account, so a request
already in flight is found by name; ProvisionToken is derived from the email and the run, so a
retried call after a lost response is the same request, not a second account, while a new run may
try again after a failure (the failed provisioned product is terminated first, as Control Tower
requires before a name is reused).
"""

from __future__ import annotations

import hashlib

from fleet.account_setup import find_ou_id
from fleet.aws import AwsContext, error_code

# Record statuses (DescribeRecord): CREATED | IN_PROGRESS | IN_PROGRESS_IN_ERROR | SUCCEEDED | FAILED.
RECORD_DONE = {"SUCCEEDED", "FAILED", "IN_PROGRESS_IN_ERROR"}


class AccountFactoryError(RuntimeError):
    pass


class NameStillTaken(RuntimeError):
    """The provisioned product name is still held by a terminating one: retry later (not a verdict)."""


def _product(sc, name: str) -> tuple[str, str, str | None]:
    """(product id, active provisioning artifact id, launch path id) of the Account Factory product."""
    try:
        product = sc.describe_product(Name=name)
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise AccountFactoryError(
                f"Service Catalog product {name!r} not found in the management account: is Control Tower set up, "
                "and is the pipeline's role a principal of the Account Factory portfolio? "
                "(vending.account_factory_product names the product)") from exc
        raise
    product_id = product["ProductViewSummary"]["ProductId"]
    artifacts = [a for a in product.get("ProvisioningArtifacts", []) if a.get("Guidance", "DEFAULT") != "DEPRECATED"]
    if not artifacts:
        raise AccountFactoryError(f"product {name!r} has no active provisioning artifact")
    artifact = sorted(artifacts, key=lambda a: str(a.get("CreatedTime", "")))[-1]["Id"]
    paths = product.get("LaunchPaths") or []
    return product_id, artifact, (paths[0]["Id"] if paths else None)


def _ou_parameter(ctx: AwsContext, ou: str) -> str:
    """Control Tower's ManagedOrganizationalUnit value: "Name (ou-xxxx-xxxxxxxx)"."""
    return f"{ou} ({find_ou_id(ctx, ou)})"


def provisioning_token(email: str, run_id: str) -> str:
    return "fleet-" + hashlib.sha256(f"{email.lower()}|{run_id}".encode()).hexdigest()[:40]


def in_flight(ctx: AwsContext, name: str) -> dict | None:
    """The provisioned product already named ``name`` (an earlier or concurrent request), if any."""
    sc = ctx.client("servicecatalog")
    try:
        detail = sc.describe_provisioned_product(Name=name)["ProvisionedProductDetail"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise
    return {"id": detail["Id"], "record_id": detail.get("LastRecordId"), "status": detail.get("Status")}


def terminate_failed(ctx: AwsContext, name: str) -> None:
    """Free the name of a provisioned product whose account creation failed."""
    ctx.client("servicecatalog").terminate_provisioned_product(
        ProvisionedProductName=name, IgnoreErrors=True, TerminateToken=provisioning_token(name, "terminate"))


def provision(ctx: AwsContext, *, name: str, email: str, ou: str, product_name: str, sso_first_name: str,
              sso_last_name: str, run_id: str) -> str:
    """Start the account's creation; returns the Service Catalog record id to follow."""
    sc = ctx.client("servicecatalog")
    product_id, artifact_id, path_id = _product(sc, product_name)
    params = {"AccountName": name, "AccountEmail": email, "SSOUserEmail": email,
              "SSOUserFirstName": sso_first_name, "SSOUserLastName": sso_last_name,
              "ManagedOrganizationalUnit": _ou_parameter(ctx, ou)}
    kwargs = {"PathId": path_id} if path_id else {}
    try:
        record = sc.provision_product(
            ProductId=product_id, ProvisioningArtifactId=artifact_id, ProvisionedProductName=name,
            ProvisioningParameters=[{"Key": k, "Value": v} for k, v in params.items()],
            ProvisionToken=provisioning_token(email, run_id),
            Tags=[{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}], **kwargs)["RecordDetail"]
    except Exception as exc:
        if error_code(exc) == "DuplicateResourceException":
            raise NameStillTaken(f"provisioned product {name!r} still exists (terminating?): retry later") from exc
        raise
    return record["RecordId"]


def record_status(ctx: AwsContext, record_id: str) -> dict:
    """{"state": IN_PROGRESS | SUCCEEDED | FAILED, "account_id", "reason"} of a provisioning record."""
    resp = ctx.client("servicecatalog").describe_record(Id=record_id)
    detail = resp["RecordDetail"]
    outputs = {o["OutputKey"]: o.get("OutputValue") for o in resp.get("RecordOutputs", [])}
    status = detail["Status"]
    if status == "SUCCEEDED":
        return {"state": "SUCCEEDED", "account_id": outputs.get("AccountId"), "reason": None}
    if status in RECORD_DONE:
        errors = "; ".join(f"{e.get('Code')}: {e.get('Description')}" for e in detail.get("RecordErrors", []))
        return {"state": "FAILED", "account_id": outputs.get("AccountId"), "reason": errors or status}
    return {"state": "IN_PROGRESS", "account_id": None, "reason": None}
