"""Account vending: requests that each end in exactly one outcome, and readiness before first use.

The first half of issue 4 (the account_vending DAG, guardrail services and the Control Tower back
end come next): peers drop bulk requests and use accounts before they are ready; here every
request is matched by email against the organization and by name against requests in flight
before CreateAccount is called, so a rerun or a retried task never creates an account twice, and
an account is "ready" only when its creation succeeded, the pipeline role can be assumed and every
configured region answers.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from fleet.aws import AwsContext, error_code


@dataclass(frozen=True)
class Request:
    name: str
    email: str


@dataclass
class Outcome:
    name: str
    email: str
    status: str  # created | existed | in-progress | failed
    account_id: str | None = None
    request_id: str | None = None
    reason: str | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def _all(org, operation: str, key: str, **kwargs) -> list[dict]:
    return [item for page in org.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def request_accounts(ctx: AwsContext, requests: list[Request]) -> list[Outcome]:
    """Start what is missing; report what exists or is already being created. One outcome each."""
    org = ctx.client("organizations")
    by_email = {a["Email"].lower(): a for a in _all(org, "list_accounts", "Accounts")}
    in_flight = {s["AccountName"]: s for s in _all(org, "list_create_account_status", "CreateAccountStatuses",
                                                   States=["IN_PROGRESS"])}
    out = []
    for r in requests:
        existing = by_email.get(r.email.lower())
        if existing is not None:
            out.append(Outcome(r.name, r.email, "existed", existing["Id"]))
        elif r.name in in_flight:
            out.append(Outcome(r.name, r.email, "in-progress", request_id=in_flight[r.name]["Id"]))
        else:
            try:
                status = org.create_account(Email=r.email, AccountName=r.name)["CreateAccountStatus"]
            except Exception as exc:
                out.append(Outcome(r.name, r.email, "failed", reason=f"{error_code(exc) or type(exc).__name__}: {exc}"))
                continue
            out.append(_from_status(r, status))
    return out


def _from_status(r: Request, status: dict) -> Outcome:
    state = status["State"]
    if state == "SUCCEEDED":
        return Outcome(r.name, r.email, "created", status.get("AccountId"), status["Id"])
    if state == "FAILED":
        return Outcome(r.name, r.email, "failed", status.get("AccountId"), status["Id"], status.get("FailureReason"))
    return Outcome(r.name, r.email, "in-progress", status.get("AccountId"), status["Id"])


@dataclass
class Readiness:
    """Where an account is on its way to ready: create -> role -> regions -> ready (or failed)."""

    stage: str
    account_id: str | None = None
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.stage in {"ready", "failed"}


def check_ready(ctx: AwsContext, name: str, request_id: str | None, account_id: str | None,
                regions: tuple[str, ...]) -> Readiness:
    """One look at an account's readiness; no waiting (a sensor or trigger does the waiting)."""
    if account_id is None:
        status = ctx.client("organizations").describe_create_account_status(
            CreateAccountRequestId=request_id)["CreateAccountStatus"]
        if status["State"] == "FAILED":
            return Readiness("failed", None, f"{name}: CreateAccount failed: {status.get('FailureReason')}")
        if status["State"] != "SUCCEEDED":
            return Readiness("create", None, f"{name}: CreateAccount {status['State']}")
        account_id = status["AccountId"]
    try:
        ctx.client("sts", account_id).get_caller_identity()
    except Exception as exc:  # not assumable yet is the normal case for a new account
        return Readiness("role", account_id, f"{name}: pipeline role not assumable yet ({exc})")
    for region in regions:
        try:
            ctx.client("sts", account_id, region).get_caller_identity()
        except Exception as exc:
            return Readiness("regions", account_id, f"{name}: region {region} not answering yet ({exc})")
    return Readiness("ready", account_id, f"{name}: ready in {', '.join(regions)}")


def wait_ready(ctx: AwsContext, name: str, request_id: str | None, account_id: str | None,
               regions: tuple[str, ...], *, timeout: float, poll: float = 15.0,
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
               check: Callable[..., Readiness] = check_ready) -> Readiness:
    """Poll ``check`` until ready, failed, or ``timeout``; the timeout names the account and its stage."""
    started = clock()
    while True:
        state = check(ctx, name, request_id, account_id, regions)
        account_id = state.account_id or account_id
        if state.done:
            return state
        if clock() - started >= timeout:
            return Readiness("failed", account_id,
                             f"{name}: not ready after {timeout:.0f}s, still waiting for {state.stage}: {state.detail}")
        sleep(poll)
