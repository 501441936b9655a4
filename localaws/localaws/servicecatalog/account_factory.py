"""AWS Control Tower's Account Factory, as the Service Catalog product it is to its callers.

Control Tower (User Guide, "Provision accounts with AWS Service Catalog Account Factory";
"Automate account provisioning ... by Service Catalog APIs") publishes, in the management account
of its organization and in its home Region, the product "AWS Control Tower Account Factory" in the
portfolio "AWS Control Tower Account Factory Portfolio". ProvisionProduct of it, with the
parameters AccountName, AccountEmail, SSOUserEmail, SSOUserFirstName, SSOUserLastName and
ManagedOrganizationalUnit, creates an account and enrolls it in that OU. What we emulate:

- The product exists, with one active version, in the management account of every organization,
  in the Control Tower home Region (``LOCALAWS_CONTROL_TOWER_HOME_REGION``, default us-east-1); it
  is made the first time that account calls Service Catalog there, so no seeding step is needed.
  Its portfolio has no principal associations: by this extension's access model (access.py) that
  opens it to every identity of the management account, and associating principals narrows it, as
  on AWS. Nothing is shared to other accounts.
- ProvisionProduct validates the parameters (a missing one is ``InvalidParametersException``
  naming it), resolves ManagedOrganizationalUnit ("Name (ou-xxxx-xxxxxxxx)", a bare OU id, or the
  name of a top-level OU) and makes a real Organizations CreateAccount call through this server's
  own HTTP endpoint (adaptive retries), so whatever answers Organizations CreateAccount here
  (moto, or a behaviour profile with delays, FAILED creations, throttling) answers the Account
  Factory the same. An OU that does not resolve fails the record before any account is created.
- The record answers CREATED, as Control Tower's does; every read of it (DescribeRecord,
  ListRecordHistory, Scan/SearchProvisionedProducts, DescribeProvisionedProduct,
  GetProvisionedProductOutputs) polls DescribeCreateAccountStatus: IN_PROGRESS while the creation
  is; once it SUCCEEDED the account is moved into the OU and the record SUCCEEDS with the outputs
  AccountId, AccountEmail, AccountName, SSOUserEmail, SSOUserPortal; a FAILED creation (or a failed
  move, e.g. the OU is gone) FAILS the record with a RecordError whose Code is the creation's
  FailureReason (EMAIL_ALREADY_EXISTS, ...) or the Organizations error code. The provisioned
  product (type CONTROL_TOWER_ACCOUNT, PhysicalId the account id) is UNDER_CHANGE, then AVAILABLE
  or ERROR. No background thread: nothing moves unless someone reads.

Not emulated: IAM Identity Center (no SSO user is created; SSOUserPortal is a made-up start URL),
Control Tower baselines and controls in the new account, updating an Account Factory provisioned
product (UpdateProvisionedProduct refuses it), and unmanaging on TerminateProvisionedProduct (the
provisioned product goes, the account stays where it is, as Control Tower leaves it).
"""

from __future__ import annotations

import hashlib
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

from localaws.request import Caller

from . import membership
from .exceptions import InvalidParametersException
from .models import Catalog, Portfolio, Product, ProvisionedProduct, ProvisioningArtifact, Record, new_id, now

PRODUCT_NAME = "AWS Control Tower Account Factory"
PORTFOLIO_NAME = "AWS Control Tower Account Factory Portfolio"
PROVIDER = "AWS Control Tower"
PROVISIONED_PRODUCT_TYPE = "CONTROL_TOWER_ACCOUNT"
HOME_REGION_ENV = "LOCALAWS_CONTROL_TOWER_HOME_REGION"
DEFAULT_HOME_REGION = "us-east-1"
PARAMETERS = ("AccountName", "AccountEmail", "SSOUserEmail", "SSOUserFirstName", "SSOUserLastName",
              "ManagedOrganizationalUnit")
_EMAIL = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")
_OU_WITH_ID = re.compile(r"^(?P<name>.*?)\s*\((?P<id>ou-[0-9a-z]{4,32}-[a-z0-9]{8,32})\)$")
_OU_ID = re.compile(r"^ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}$")
# Organizations errors a later read may get past (the creation itself is not in doubt).
_TRANSIENT = {"TooManyRequestsException", "ThrottlingException", "Throttling", "ServiceException",
              "ConcurrentModificationException", "RequestLimitExceeded", "InternalFailure"}

TEMPLATE = """\
AWSTemplateFormatVersion: '2010-09-09'
Description: AWS Control Tower Account Factory Template (emulated by local AWS)
Parameters:
  AccountName:
    Type: String
    Description: Account name, the new managed account will be created with this name.
    AllowedPattern: '.+'
  AccountEmail:
    Type: String
    Description: Account email, must be unique for each AWS account.
    AllowedPattern: '[^\\s@]+@[^\\s@]+\\.[^\\s@]+'
  SSOUserEmail:
    Type: String
    Description: SSO user email. A new SSO user will be created for this email if it does not exist. This SSO user will be associated with the new managed account.
    AllowedPattern: '[^\\s@]+@[^\\s@]+\\.[^\\s@]+'
  SSOUserFirstName:
    Type: String
    Description: SSO user first name.
    AllowedPattern: '.+'
  SSOUserLastName:
    Type: String
    Description: SSO user last name.
    AllowedPattern: '.+'
  ManagedOrganizationalUnit:
    Type: String
    Description: Managed organizational unit. The managed account will be placed under this organizational unit, given as "Name (ou-xxxx-xxxxxxxx)".
    AllowedPattern: '.+'
Resources:
  ManagedAccount:
    Type: Custom::ControlTowerManagedAccount
    Properties:
      AccountName: !Ref AccountName
      AccountEmail: !Ref AccountEmail
      ManagedOrganizationalUnit: !Ref ManagedOrganizationalUnit
Outputs:
  AccountId:
    Description: Managed Account Id
    Value: !GetAtt ManagedAccount.AccountId
  AccountEmail:
    Description: Email Id associated with the Account
    Value: !Ref AccountEmail
  AccountName:
    Description: Name of the managed Account
    Value: !Ref AccountName
  SSOUserEmail:
    Description: SSO User email associated with the Account.
    Value: !Ref SSOUserEmail
  SSOUserPortal:
    Description: SSO User Portal to federate into the managed Account.
    Value: !GetAtt ManagedAccount.SSOUserPortal
"""
_OUTPUT_DESCRIPTIONS = {
    "AccountId": "Managed Account Id",
    "AccountEmail": "Email Id associated with the Account",
    "AccountName": "Name of the managed Account",
    "SSOUserEmail": "SSO User email associated with the Account.",
    "SSOUserPortal": "SSO User Portal to federate into the managed Account.",
}


def home_region() -> str:
    return os.environ.get(HOME_REGION_ENV) or DEFAULT_HOME_REGION


# -- the product ------------------------------------------------------------------------------------

def ensure_product(catalog: Catalog, caller: Caller) -> None:
    """Publish the product in the caller's account if it manages an organization (catalog lock held)."""
    if caller.region != home_region() or caller.account in catalog.account_factory:
        return
    if membership.management_org(caller.account, caller.partition) is None:
        return
    artifact = ProvisioningArtifact(
        id=new_id("pa"), name="AWS Control Tower Account Factory Template",
        description="Account Factory provisioning template", type="CLOUD_FORMATION_TEMPLATE",
        template=TEMPLATE, template_url="https://localaws.invalid/control-tower/account-factory.template.yaml")
    product = Product(
        id=new_id("prod"), view_id=new_id("prodview"), account=caller.account, region=caller.region,
        partition=caller.partition, name=PRODUCT_NAME, owner=PROVIDER, type="CLOUD_FORMATION_TEMPLATE",
        description="Provisions and enrolls AWS accounts in your AWS Control Tower landing zone.",
        distributor="AWS", support_description="AWS Control Tower", artifacts=[artifact])
    portfolio = Portfolio(
        id=new_id("port"), account=caller.account, region=caller.region, partition=caller.partition,
        display_name=PORTFOLIO_NAME, provider_name=PROVIDER,
        description="Portfolio for AWS Control Tower Account Factory", product_ids=[product.id])
    catalog.products[product.id] = product
    catalog.portfolios[portfolio.id] = portfolio
    catalog.account_factory[caller.account] = product.id


def is_product(catalog: Catalog, product_id: str) -> bool:
    return product_id in catalog.account_factory.values()


def check_parameters(values: dict[str, str]) -> None:
    """The template's parameters: all six required, emails well formed; no others."""
    missing = [name for name in PARAMETERS if not str(values.get(name) or "").strip()]
    if missing:
        raise InvalidParametersException(f"Parameters: {missing} must have values")
    unknown = sorted(set(values) - set(PARAMETERS))
    if unknown:
        raise InvalidParametersException(f"Parameters: {unknown} do not exist in the template")
    for name in ("AccountEmail", "SSOUserEmail"):
        if not _EMAIL.match(values[name]):
            raise InvalidParametersException(f"Parameter '{name}' must match pattern [^\\s@]+@[^\\s@]+\\.[^\\s@]+")


# -- one account being vended ----------------------------------------------------------------------

@dataclass
class AccountRequest:
    """What a PROVISION_PRODUCT record of the Account Factory is doing; fields change under the
    catalog lock, and one thread at a time polls Organizations for it (``polling``)."""

    record_id: str
    pp_id: str
    account: str  # the management account
    region: str
    partition: str
    endpoint_url: str | None
    parameters: dict[str, str]
    phase: str = "LAUNCHING"  # LAUNCHING (CreateAccount not answered) | CREATING | DONE
    ou_id: str | None = None
    create_request_id: str | None = None
    account_id: str | None = None
    polling: threading.Lock = field(default_factory=threading.Lock)


class _Failure(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


_clients: dict[tuple[str, str, str], Any] = {}
_clients_lock = threading.Lock()


def _organizations(endpoint_url: str | None, account: str, region: str) -> Any:
    """A boto3 Organizations client on this server's own endpoint, acting for ``account``.

    Dummy credentials map to moto's default account; the X-Moto-Account-Id header (which moto and
    our caller resolution honour) names the management account whatever it is.
    """
    if not endpoint_url:
        raise _Failure("InternalFailure", "local AWS does not know its own endpoint yet")
    key = (endpoint_url, account, region)
    with _clients_lock:
        found = _clients.get(key)
        if found is None:
            from botocore.config import Config

            from localaws.clients import session

            found = session(region=region).client(
                "organizations", endpoint_url=endpoint_url,
                config=Config(retries={"mode": "adaptive", "max_attempts": 6}, connect_timeout=5,
                              read_timeout=60))

            def name_account(request: Any, **_: Any) -> None:
                request.headers["X-Moto-Account-Id"] = account

            found.meta.events.register("before-sign.organizations", name_account)
            _clients[key] = found
        return found


def _client_error(exc: Exception) -> _Failure:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return _Failure(error.get("Code") or "InternalFailure", error.get("Message") or str(exc))
    return _Failure("InternalFailure", f"{type(exc).__name__}: {exc}")


def _resolve_ou(org: Any, value: str) -> str:
    """The OU id ManagedOrganizationalUnit names: "Name (ou-...)" or "ou-..." by id (the id decides,
    as Control Tower keys registered OUs by id), a bare name only among the root's children."""
    value = value.strip()
    match = _OU_WITH_ID.match(value)
    ou_id = match.group("id") if match else value if _OU_ID.match(value) else None
    if ou_id is not None:
        try:
            return org.describe_organizational_unit(OrganizationalUnitId=ou_id)["OrganizationalUnit"]["Id"]
        except Exception as exc:
            failure = _client_error(exc)
            if failure.code in ("OrganizationalUnitNotFoundException", "ChildNotFoundException"):
                raise _Failure(failure.code, f"ManagedOrganizationalUnit {value!r}: no such organizational "
                                             "unit in the organization") from exc
            raise failure from exc
    root = org.list_roots()["Roots"][0]["Id"]
    pages = org.get_paginator("list_organizational_units_for_parent").paginate(ParentId=root)
    found = [ou["Id"] for page in pages for ou in page["OrganizationalUnits"] if ou["Name"] == value]
    if len(found) != 1:
        raise _Failure("OrganizationalUnitNotFoundException",
                       f"ManagedOrganizationalUnit {value!r}: no {'single ' if found else ''}top-level organizational "
                       "unit of that name; give a nested OU as \"Name (ou-xxxx-xxxxxxxx)\"")
    return found[0]


def launch(catalog: Catalog, caller: Caller, pp: ProvisionedProduct, record: Record,
           values: dict[str, str]) -> dict[str, Any]:
    """ProvisionProduct's work for the Account Factory, after the record is open (no lock held)."""
    request = AccountRequest(record.id, pp.id, caller.account, caller.region, caller.partition,
                             catalog.endpoint_url, dict(values))
    with catalog.lock:
        catalog.account_requests[record.id] = request
    failure = None
    try:
        org = _organizations(request.endpoint_url, request.account, request.region)
        ou_id = _resolve_ou(org, values["ManagedOrganizationalUnit"])
        status = org.create_account(AccountName=values["AccountName"],
                                    Email=values["AccountEmail"])["CreateAccountStatus"]
    except _Failure as exc:
        failure = exc
    except Exception as exc:  # noqa: BLE001 - every failure of the call becomes the record's error
        failure = _client_error(exc)
    with catalog.lock:
        if failure is None:
            request.ou_id, request.create_request_id = ou_id, status["Id"]
            request.phase = "CREATING"
            if status.get("State") == "FAILED":
                failure = _creation_failed(status)
        if failure is not None:
            _fail(catalog, request, failure)
        return {"RecordDetail": record.detail()}


def _creation_failed(status: dict[str, Any]) -> _Failure:
    reason = status.get("FailureReason") or "INTERNAL_FAILURE"
    return _Failure(reason, f"AWS Organizations could not create account {status.get('AccountName', '')!r}: {reason}")


# -- reads move it on -------------------------------------------------------------------------------

# Operations that read records or provisioned products, and where the one they read is named.
_BY_RECORD = {"DescribeRecord": "Id"}
_BY_PP = {"DescribeProvisionedProduct": ("Id", "Name"),
          "GetProvisionedProductOutputs": ("ProvisionedProductId", "ProvisionedProductName"),
          "UpdateProvisionedProduct": ("ProvisionedProductId", "ProvisionedProductName"),
          "TerminateProvisionedProduct": ("ProvisionedProductId", "ProvisionedProductName")}
_ALL = {"ListRecordHistory", "ScanProvisionedProducts", "SearchProvisionedProducts"}


def prepare(catalog: Catalog, caller: Caller, operation: str, params: dict[str, Any]) -> None:
    """Before any Service Catalog operation: publish the product if due, and bring the Account
    Factory records the operation reads up to date (polling Organizations outside the lock)."""
    with catalog.lock:
        ensure_product(catalog, caller)
        if not catalog.account_requests:
            return
        pending = [r for r in catalog.account_requests.values()
                   if r.phase == "CREATING" and r.account == caller.account and r.region == caller.region]
        if operation in _BY_RECORD:
            pending = [r for r in pending if r.record_id == params.get(_BY_RECORD[operation])]
        elif operation in _BY_PP:
            by_id, by_name = (params.get(k) for k in _BY_PP[operation])
            pps = {r.pp_id: catalog.provisioned.get(r.pp_id) for r in pending}
            pending = [r for r in pending if pps[r.pp_id] is not None and (
                (by_id and r.pp_id == by_id) or (not by_id and by_name and pps[r.pp_id].name == by_name))]
        elif operation not in _ALL:
            return
    for request in pending:
        poll(catalog, request)


def poll(catalog: Catalog, request: AccountRequest) -> None:
    with request.polling:
        with catalog.lock:
            if request.phase != "CREATING":
                return
            account_id = request.account_id
        try:
            org = _organizations(request.endpoint_url, request.account, request.region)
            if account_id is None:
                status = org.describe_create_account_status(
                    CreateAccountRequestId=request.create_request_id)["CreateAccountStatus"]
                state = status.get("State")
                with catalog.lock:
                    if state == "FAILED":
                        _fail(catalog, request, _creation_failed(status))
                        return
                    _in_progress(catalog, request)
                    if state != "SUCCEEDED":
                        return
                    request.account_id = account_id = status["AccountId"]
            parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
            if parent != request.ou_id:
                org.move_account(AccountId=account_id, SourceParentId=parent, DestinationParentId=request.ou_id)
        except Exception as exc:  # noqa: BLE001
            failure = _client_error(exc)
            from botocore.exceptions import ClientError

            if not isinstance(exc, ClientError) or failure.code in _TRANSIENT:
                return  # unreachable or throttled: the next read tries again
            with catalog.lock:
                _fail(catalog, request, failure)
            return
        with catalog.lock:
            _succeed(catalog, request)


# -- settling the record and the provisioned product (catalog lock held) ----------------------------

def _in_progress(catalog: Catalog, request: AccountRequest) -> None:
    record = catalog.records.get(request.record_id)
    if record is not None and record.status == "CREATED":
        record.status, record.updated = "IN_PROGRESS", now()


def _fail(catalog: Catalog, request: AccountRequest, failure: _Failure) -> None:
    request.phase = "DONE"
    record = catalog.records.get(request.record_id)
    if record is not None:
        record.status, record.updated = "FAILED", now()
        record.errors = [{"Code": failure.code, "Description": failure.message}]
    pp = catalog.provisioned.get(request.pp_id)
    if pp is not None:
        pp.status, pp.status_message = "ERROR", failure.message
        if request.account_id:
            pp.physical_id = request.account_id


def _succeed(catalog: Catalog, request: AccountRequest) -> None:
    request.phase = "DONE"
    values = request.parameters
    outputs = {
        "AccountId": request.account_id or "",
        "AccountEmail": values["AccountEmail"],
        "AccountName": values["AccountName"],
        "SSOUserEmail": values["SSOUserEmail"],
        "SSOUserPortal": sso_portal(request.account, request.partition),
    }
    record = catalog.records.get(request.record_id)
    if record is not None:
        record.status, record.updated = "SUCCEEDED", now()
        record.outputs = [{"OutputKey": k, "OutputValue": v, "Description": _OUTPUT_DESCRIPTIONS[k]}
                          for k, v in outputs.items()]
    pp = catalog.provisioned.get(request.pp_id)
    if pp is not None:
        pp.status, pp.status_message = "AVAILABLE", None
        pp.physical_id = request.account_id
        pp.last_successful_record_id = request.record_id


def sso_portal(management_account: str, partition: str) -> str:
    """The IAM Identity Center start URL of the organization (made up: Identity Center is not emulated)."""
    org = membership.management_org(management_account, partition)
    seed = org.id if org is not None else management_account
    return f"https://d-{hashlib.sha256(seed.encode()).hexdigest()[:10]}.awsapps.com/start"
