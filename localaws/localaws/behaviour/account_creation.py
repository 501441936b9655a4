"""Account creation as AWS Organizations does it: asynchronous, and able to fail.

AWS Organizations API reference, CreateAccount / DescribeCreateAccountStatus /
ListCreateAccountStatus / CreateAccountStatus:
- CreateAccount answers State IN_PROGRESS; the request then ends SUCCEEDED (AccountId,
  CompletedTimestamp) or FAILED (FailureReason, CompletedTimestamp, no AccountId).
- The account is in no listing (ListAccounts, ListAccountsForParent, ListChildren) and unknown to
  DescribeAccount until SUCCEEDED; a FAILED request creates no account at all.
- ListCreateAccountStatus lists the account creation requests (not the management account),
  filtered by ``States``, paged by MaxResults (1-20) / NextToken.
- A new account's role cannot be assumed at once (sts:AssumeRole is AccessDenied), and its regions
  answer its credentials a little later still (as a region not yet enabled: InvalidClientTokenId).

moto creates the account at once; we let it (so its validation, errors, IAM role and SCP
attachments stay moto's), hide the account until the request SUCCEEDS, and throw it away when the
request FAILS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from localaws import request
from localaws.behaviour import responses
from localaws.behaviour.state import State

IN_PROGRESS, SUCCEEDED, FAILED = "IN_PROGRESS", "SUCCEEDED", "FAILED"
STATES = (IN_PROGRESS, SUCCEEDED, FAILED)
MAX_RESULTS = 20
# Services with one global endpoint: a region that is not enabled does not refuse them.
GLOBAL_SERVICES = frozenset({"iam", "organizations", "route53", "cloudfront", "account", "budgets", "ce",
                             "support"})
_ROLE_ARN = re.compile(r"^arn:[\w-]+:iam::(\d{12}):role/")


@dataclass
class Creation:
    request_id: str
    name: str
    email: str
    management: str
    partition: str
    org_id: str
    home_region: str
    requested_at: float
    due: float
    failure: str | None
    role_after: float
    regions_after: float
    account: Any  # moto's FakeAccount, hidden until SUCCEEDED
    policies: list[Any] = field(default_factory=list)  # SCP/RCP attachments held back meanwhile
    state: str = IN_PROGRESS
    completed_at: float | None = None
    account_id: str | None = None

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"Id": self.request_id, "AccountName": self.name, "State": self.state,
                               "RequestedTimestamp": self.requested_at}
        if self.state != IN_PROGRESS:
            out["CompletedTimestamp"] = self.completed_at
        if self.state == SUCCEEDED:
            out["AccountId"] = self.account_id
        if self.state == FAILED:
            out["FailureReason"] = self.failure
        return out


@dataclass
class Young:
    """A new account whose role or regions do not answer yet."""

    account_id: str
    partition: str
    home_region: str
    role_at: float
    regions_at: float


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


def _backend(account: str, partition: str) -> Any:
    from moto.organizations.models import organizations_backends

    return organizations_backends[account][partition]


# -- plans: what a request gets instead of (or on top of) moto's answer ----------------------------
def plan(ext: Any, environ: dict[str, Any], sig: request.Signed, now: float, profile: Any) -> Any:
    state: State = ext.state
    denied = _region_gate(state, environ, sig, now)
    if denied is not None:
        ext.count("region_refused")
        return lambda: denied
    if sig.service == "organizations":
        op = request.operation(environ)
        if op == "CreateAccount" and not profile.organizations.neutral:
            return lambda: create_account(ext, environ, sig, now, profile)
        if op == "DescribeCreateAccountStatus":
            request_id = request.json_params(environ).get("CreateAccountRequestId")
            creation = state.creations.get(request_id) if isinstance(request_id, str) else None
            if creation is not None and creation.management == request.account_of(environ, sig.access_key):
                return lambda: responses.json_response({"CreateAccountStatus": creation.status()})
            return None
        if op == "ListCreateAccountStatus":
            return lambda: list_create_account_status(state, environ, sig)
    elif sig.service == "sts" and state.young and request.operation(environ) == "AssumeRole":
        refused = _assume_role_gate(state, environ, sig, now)
        if refused is not None:
            ext.count("assume_role_denied")
        return refused
    return None


def create_account(ext: Any, environ: dict[str, Any], sig: request.Signed, now: float, profile: Any) -> responses.Response:
    from moto.organizations.models import organizations_backends

    params = request.json_params(environ)
    response = responses.call(ext.downstream, environ)
    if not responses.ok(response):
        return response  # moto's own validation: not in an organization, bad input, ...
    import json

    answer = json.loads(response[2])["CreateAccountStatus"]
    account_id = answer["AccountId"]
    management, partition = organizations_backends.master_accounts[account_id]
    backend = _backend(management, partition)
    state: State = ext.state
    behaviour = profile.organizations
    with state.lock:
        account = next(a for a in backend.accounts if a.id == account_id)
        backend.accounts.remove(account)
        policies = [p for p in account.attached_policies if account in p.attachments]
        for policy in policies:
            policy.attachments.remove(account)
        organizations_backends.master_accounts.pop(account_id, None)
        creation = Creation(
            request_id=answer["Id"], name=answer.get("AccountName") or params.get("AccountName", ""),
            email=str(params.get("Email", "")), management=management, partition=partition,
            org_id=backend.org.id, home_region=sig.region, requested_at=now,
            due=now + behaviour.create_account.in_progress_seconds,
            failure=behaviour.create_account.failure_for(str(params.get("Email", ""))),
            role_after=behaviour.role_assumable_after_seconds,
            regions_after=behaviour.regions_answer_after_seconds, account=account, policies=policies)
        state.creations[creation.request_id] = creation
        if creation.failure is not None:
            ext.count("create_account_failed")
        state.schedule(creation.due, lambda due, _now: _finish(state, creation, due))
    state.advance(now)  # no delay: done before we answer
    return responses.json_response({"CreateAccountStatus": creation.status()})


def _finish(state: State, creation: Creation, due: float) -> None:
    """The creation request ends (called under the state lock)."""
    from moto.organizations.models import organizations_backends

    creation.completed_at = due
    backend = _backend(creation.management, creation.partition)
    if creation.failure is not None or backend.org is None or backend.org.id != creation.org_id:
        # FAILED (or the organization it was for is gone): no account exists, now or later.
        creation.state = FAILED
        creation.failure = creation.failure or "INTERNAL_FAILURE"
        creation.account, creation.policies = None, []
        return
    account = creation.account
    account.create_time = _naive_utc(due)  # JoinedTimestamp: when it joined, not when it was asked for
    backend.accounts.append(account)
    for policy in creation.policies:
        if account not in policy.attachments:
            policy.attachments.append(account)
    organizations_backends.master_accounts[account.id] = (creation.management, creation.partition)
    creation.state, creation.account_id = SUCCEEDED, account.id
    creation.account, creation.policies = None, []
    if creation.role_after or creation.regions_after:
        role_at = due + creation.role_after
        state.young[account.id] = Young(account.id, creation.partition, creation.home_region,
                                        role_at, role_at + creation.regions_after)


def list_create_account_status(state: State, environ: dict[str, Any], sig: request.Signed) -> responses.Response:
    from moto.utilities.utils import get_partition

    params = request.json_params(environ)
    caller = request.account_of(environ, sig.access_key)
    partition = get_partition(sig.region)
    backend = _backend(caller, partition)
    if backend.org is None:
        return responses.error("json", 400, "AWSOrganizationsNotInUseException",
                          "Your account is not a member of an organization.")
    wanted = params.get("States") or []
    if not isinstance(wanted, list) or any(s not in STATES for s in wanted):
        return responses.error("json", 400, "InvalidInputException",
                          f"States must be a list of {', '.join(STATES)}; got {wanted!r}")
    limit = params.get("MaxResults", MAX_RESULTS)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_RESULTS:
        return responses.error("json", 400, "InvalidInputException",
                          f"MaxResults must be between 1 and {MAX_RESULTS}.")
    token = params.get("NextToken")
    try:
        start = int(token) if token is not None else 0
        if start < 0:
            raise ValueError
    except (TypeError, ValueError):
        return responses.error("json", 400, "InvalidInputException", "The NextToken value is not valid.")
    with state.lock:
        tracked = [c for c in state.creations.values() if (c.management, c.partition) == (caller, partition)]
        statuses = [c.status() for c in tracked]
        tracked_ids = {c.account_id for c in tracked if c.account_id}
        for account in backend.accounts:
            if account.id == backend.org.master_account_id or account.id in tracked_ids:
                continue  # the management account was never a creation request
            statuses.append(account.create_account_status["CreateAccountStatus"])
    statuses.sort(key=lambda s: s["RequestedTimestamp"])
    if wanted:
        statuses = [s for s in statuses if s["State"] in wanted]
    page: dict[str, Any] = {"CreateAccountStatuses": statuses[start:start + limit]}
    if start + limit < len(statuses):
        page["NextToken"] = str(start + limit)
    return responses.json_response(page)


# -- a new account's role and regions -------------------------------------------------------------
def _assume_role_gate(state: State, environ: dict[str, Any], sig: request.Signed, now: float) -> Any:
    role_arn = request.query_params(environ).get("RoleArn", "")
    match = _ROLE_ARN.match(role_arn)
    young = state.young.get(match.group(1)) if match else None
    if young is None or now >= young.role_at:
        return None
    caller = request.account_of(environ, sig.access_key)
    message = (f"User: arn:{young.partition}:iam::{caller}:root is not authorized to perform: "
               f"sts:AssumeRole on resource: {role_arn} (local AWS behaviour profile: the new account's "
               f"roles are assumable {young.role_at - now:.1f}s from now)")
    denied = responses.error("query", 403, "AccessDenied", message)
    return lambda: denied


def _region_gate(state: State, environ: dict[str, Any], sig: request.Signed, now: float) -> responses.Response | None:
    if not state.young or sig.service in GLOBAL_SERVICES:
        return None
    from moto.iam.models import iam_backends

    with state.lock:
        for account_id in [a for a, y in state.young.items() if y.regions_at <= now]:
            del state.young[account_id]
        candidates = [y for y in state.young.values() if y.home_region != sig.region and now >= y.role_at]
    for young in candidates:
        if sig.access_key in iam_backends[young.account_id][young.partition].access_keys:
            kind = request.protocol(environ, sig.service)
            hint = (f" (local AWS behaviour profile: region {sig.region} answers account {young.account_id} "
                    f"{young.regions_at - now:.1f}s from now)")
            if kind == "rest-xml":
                return responses.error(kind, 403, "InvalidAccessKeyId",
                                  "The AWS Access Key Id you provided does not exist in our records." + hint)
            if kind == "query":
                return responses.error(kind, 403, "InvalidClientTokenId",
                                  "The security token included in the request is invalid." + hint)
            return responses.error(kind, 400 if kind == "json" else 403, "UnrecognizedClientException",
                              "The security token included in the request is invalid." + hint)
    return None
