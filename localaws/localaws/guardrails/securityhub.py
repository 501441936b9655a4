"""Security Hub: the hub's "already subscribed" conflict and the security standards, which moto
5.2.5 lacks (it has no /standards routes at all).

As the Security Hub API reference documents them:
- EnableSecurityHub on a subscribed account: ``ResourceConflictException`` (HTTP 409), "Account is
  already subscribed to Security Hub" (moto answers 200). Without ``EnableDefaultStandards=false``
  it also enables the default standards, AWS Foundational Security Best Practices v1.0.0 and CIS
  AWS Foundations Benchmark v1.2.0.
- DescribeStandards lists the standards offered in the Region; BatchEnableStandards subscribes
  (a new subscription answers PENDING, then reads READY; a standard already enabled answers its
  existing subscription, not an error); BatchDisableStandards answers DELETING and removes it;
  GetEnabledStandards pages with NextToken / MaxResults. An unknown standards ARN, or a
  subscription ARN the account does not hold, is ``InvalidInputException`` (400); any of them on
  an account without Security Hub is ``InvalidAccessException`` (401).
- DisableSecurityHub also drops the account's standards subscriptions.

Everything else (DescribeHub, findings, members, organization configuration) is moto's.
State lives on moto's own Security Hub backend of the account and Region (the account moto derives
from the request's access key), so moto's reset (POST /moto-api/reset) forgets it with the hub.
"""

from __future__ import annotations

import base64
import threading
from dataclasses import dataclass
from typing import Any

from .exceptions import ServiceError

_STATE = "localaws_standards"  # attribute on moto's SecurityHubBackend: standards ARN -> subscription
_lock = threading.Lock()


@dataclass(frozen=True)
class Standard:
    suffix: str  # "<name>/v/<version>": what the standards and subscription ARNs end with
    name: str
    description: str
    enabled_by_default: bool = False
    ruleset: bool = False  # CIS v1.2.0 predates regional standards: arn:aws:securityhub:::ruleset/...

    def arn(self, partition: str, region: str) -> str:
        if self.ruleset:
            return f"arn:{partition}:securityhub:::ruleset/{self.suffix}"
        return f"arn:{partition}:securityhub:{region}::standards/{self.suffix}"

    def subscription_arn(self, partition: str, region: str, account: str) -> str:
        return f"arn:{partition}:securityhub:{region}:{account}:subscription/{self.suffix}"

    def describe(self, partition: str, region: str) -> dict[str, Any]:
        return {"StandardsArn": self.arn(partition, region), "Name": self.name, "Description": self.description,
                "EnabledByDefault": self.enabled_by_default, "Provider": "AWS",
                "StandardsManagedBy": {"Company": "AWS", "Product": "Security Hub"}}


STANDARDS = (
    Standard("aws-foundational-security-best-practices/v/1.0.0", "AWS Foundational Security Best Practices v1.0.0",
             "The AWS Foundational Security Best Practices standard is a set of controls that detect when your "
             "deployed accounts and resources deviate from security best practices.", enabled_by_default=True),
    Standard("cis-aws-foundations-benchmark/v/1.2.0", "CIS AWS Foundations Benchmark v1.2.0",
             "The Center for Internet Security (CIS) AWS Foundations Benchmark v1.2.0 is a set of security "
             "configuration best practices for AWS.", enabled_by_default=True, ruleset=True),
    Standard("cis-aws-foundations-benchmark/v/1.4.0", "CIS AWS Foundations Benchmark v1.4.0",
             "The Center for Internet Security (CIS) AWS Foundations Benchmark v1.4.0 is a set of security "
             "configuration best practices for AWS."),
    Standard("cis-aws-foundations-benchmark/v/3.0.0", "CIS AWS Foundations Benchmark v3.0.0",
             "The Center for Internet Security (CIS) AWS Foundations Benchmark v3.0.0 is a set of security "
             "configuration best practices for AWS."),
    Standard("nist-800-53/v/5.0.0", "NIST Special Publication 800-53 Revision 5",
             "NIST 800-53 Rev. 5 controls mapped to AWS services, from the National Institute of Standards "
             "and Technology's security and privacy controls for information systems."),
    Standard("pci-dss/v/3.2.1", "PCI DSS v3.2.1",
             "The Payment Card Industry Data Security Standard (PCI DSS) v3.2.1 is an information security "
             "standard for entities that store, process, and/or transmit cardholder data."),
    Standard("pci-dss/v/4.0.1", "PCI DSS v4.0.1",
             "The Payment Card Industry Data Security Standard (PCI DSS) v4.0.1 is an information security "
             "standard for entities that store, process, and/or transmit cardholder data."),
    Standard("aws-resource-tagging-standard/v/1.0.0", "AWS Resource Tagging Standard v1.0.0",
             "The AWS Resource Tagging Standard checks whether your AWS resources carry the tags you require."),
)


# -- errors, with Security Hub's error shape (Message, Code) ----------------------------------------

def _error(status: int, code: str, message: str) -> ServiceError:
    return ServiceError(status, code, message, {"Code": code, "Message": message})


def invalid_input(message: str) -> ServiceError:
    return _error(400, "InvalidInputException", message)


def not_subscribed(account: str) -> ServiceError:
    return _error(401, "InvalidAccessException", f"Account {account} is not subscribed to AWS Security Hub")


ALREADY_SUBSCRIBED = "Account is already subscribed to Security Hub"


# -- state ------------------------------------------------------------------------------------------

class Hub:
    """The caller's hub: moto's backend for enablement, our subscriptions beside it."""

    def __init__(self, account: str, region: str, partition: str) -> None:
        from moto.securityhub.models import securityhub_backends

        self.account, self.region, self.partition = account, region, partition
        self.backend = securityhub_backends[account][region]
        self.subscriptions: dict[str, dict[str, Any]] = self.backend.__dict__.setdefault(_STATE, {})

    def require_enabled(self) -> None:
        if not self.backend.enabled:
            raise not_subscribed(self.account)

    def standard(self, arn: str) -> Standard | None:
        return next((s for s in STANDARDS if s.arn(self.partition, self.region) == arn), None)

    def by_subscription_arn(self, arn: str) -> Standard | None:
        return next((s for s in STANDARDS
                     if s.subscription_arn(self.partition, self.region, self.account) == arn), None)

    def subscribe(self, standard: Standard, standards_input: dict[str, str] | None) -> tuple[dict[str, Any], bool]:
        """(subscription, newly created)."""
        arn = standard.arn(self.partition, self.region)
        existing = self.subscriptions.get(arn)
        if existing is not None:
            return existing, False
        subscription = {
            "StandardsSubscriptionArn": standard.subscription_arn(self.partition, self.region, self.account),
            "StandardsArn": arn,
            "StandardsInput": dict(standards_input or {}),
            "StandardsStatus": "READY",
            "StandardsControlsUpdatable": "READY_FOR_UPDATES",
        }
        self.subscriptions[arn] = subscription
        return subscription, True


# -- operations -------------------------------------------------------------------------------------

def enable_security_hub(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        hub = Hub(account, region, partition)
        if hub.backend.enabled:
            raise _error(409, "ResourceConflictException", ALREADY_SUBSCRIBED)
        hub.backend.enable_security_hub(enable_default_standards=False, tags=params.get("Tags") or {})
        # "If you don't provide a value for EnableDefaultStandards, it is set to true."
        if params.get("EnableDefaultStandards", True) is not False:
            for standard in STANDARDS:
                if standard.enabled_by_default:
                    hub.subscribe(standard, None)
    return {}


def disable_security_hub(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    with _lock:
        hub = Hub(account, region, partition)
        hub.require_enabled()
        hub.backend.disable_security_hub()
        hub.subscriptions.clear()
    return {}


def _page(items: list[Any], token: str | None, max_results: Any, key: str) -> dict[str, Any]:
    """NextToken / MaxResults (1-100) paging; the token is an opaque offset."""
    if max_results is not None:
        try:
            size = int(max_results)
        except (TypeError, ValueError) as exc:
            raise invalid_input("MaxResults must be an integer between 1 and 100.") from exc
        if not 1 <= size <= 100:
            raise invalid_input("MaxResults must be an integer between 1 and 100.")
    else:
        size = 100
    start = 0
    if token:
        try:
            start = int(base64.urlsafe_b64decode(token.encode()).decode())
        except ValueError as exc:
            raise invalid_input("The NextToken is not valid.") from exc
        if not 0 <= start <= len(items):
            raise invalid_input("The NextToken is not valid.")
    out: dict[str, Any] = {key: items[start:start + size]}
    if start + size < len(items):
        out["NextToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
    return out


def _providers(providers: Any) -> bool:
    """Whether a Providers filter admits our standards (all of them evaluate AWS resources)."""
    return not providers or "AWS" in providers


def describe_standards(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    Hub(account, region, partition).require_enabled()
    items = [s.describe(partition, region) for s in STANDARDS] if _providers(params.get("Providers")) else []
    return _page(items, params.get("NextToken"), params.get("MaxResults"), "Standards")


def batch_enable_standards(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    requests = params.get("StandardsSubscriptionRequests")
    if not isinstance(requests, list) or not 1 <= len(requests) <= 25:
        raise invalid_input("StandardsSubscriptionRequests must hold between 1 and 25 requests.")
    with _lock:
        hub = Hub(account, region, partition)
        hub.require_enabled()
        # All or nothing: one unknown ARN rejects the whole request before anything is enabled.
        unknown = [r for r in requests
                   if not isinstance(r, dict) or hub.standard(str(r.get("StandardsArn"))) is None]
        if unknown:
            shown = ",".join('{"StandardsArn":"%s"}' % (r.get("StandardsArn") if isinstance(r, dict) else r)
                             for r in unknown)
            raise invalid_input(f"Invalid StandardsSubscriptionRequest(s): [{shown}]")
        out = []
        for request in requests:
            subscription, created = hub.subscribe(hub.standard(request["StandardsArn"]), request.get("StandardsInput"))
            # A new subscription is PENDING while Security Hub enables its controls; reads see READY.
            out.append({**subscription, "StandardsStatus": "PENDING"} if created else dict(subscription))
    return {"StandardsSubscriptions": out}


def batch_disable_standards(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    arns = params.get("StandardsSubscriptionArns")
    if not isinstance(arns, list) or not 1 <= len(arns) <= 25:
        raise invalid_input("StandardsSubscriptionArns must hold between 1 and 25 ARNs.")
    with _lock:
        hub = Hub(account, region, partition)
        hub.require_enabled()
        standards = [hub.by_subscription_arn(str(arn)) for arn in arns]
        missing = [arn for arn, standard in zip(arns, standards)
                   if standard is None or standard.arn(partition, region) not in hub.subscriptions]
        if missing:
            raise invalid_input(f"Invalid StandardsSubscriptionArn(s): {missing}: no such subscription in this account.")
        out = []
        for standard in standards:
            subscription = hub.subscriptions.pop(standard.arn(partition, region))
            out.append({**subscription, "StandardsStatus": "DELETING"})
    return {"StandardsSubscriptions": out}


def get_enabled_standards(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    arns = params.get("StandardsSubscriptionArns")
    if arns is not None and (not isinstance(arns, list) or not 1 <= len(arns) <= 25):
        raise invalid_input("StandardsSubscriptionArns must hold between 1 and 25 ARNs.")
    with _lock:
        hub = Hub(account, region, partition)
        hub.require_enabled()
        items = [dict(s) for s in hub.subscriptions.values()]
    if arns is not None:
        items = [s for s in items if s["StandardsSubscriptionArn"] in arns]
    if not _providers(params.get("Providers")):
        items = []
    return _page(items, params.get("NextToken"), params.get("MaxResults"), "StandardsSubscriptions")
