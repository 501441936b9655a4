"""Account vending: requests that each end in exactly one outcome, and readiness before first use.

Peers drop bulk requests and use accounts before they are ready. Here every request is matched,
before anything is created, by email against the organization, by its durable record
(``fleet.vending_log``) and by name against creations in flight, so a rerun or a retried task never
creates an account twice; and an account is "ready" only when its creation succeeded, the
pipeline role can be assumed and every configured region answers.

Two back ends feed the same readiness check: Organizations CreateAccount (``request_id`` is the
CreateAccountStatus id) and Control Tower's Account Factory (``request_id`` is the Service Catalog
record id; ``fleet.account_factory``).
"""

from __future__ import annotations

import math
import os

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fleet import account_factory
from fleet.aws import AwsContext, error_code
from fleet.config import Account, FleetConfig, Vending, account_requests
from fleet.vending_log import RequestLog

OUTCOMES = ("created", "existed", "failed")


@dataclass(frozen=True)
class Request(Account):
    """An account to vend: the config's own ``Account`` (name, email, OU, tags), as it travels by XCom."""

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def of(cls, d: dict | Account) -> Request:
        if isinstance(d, Account):
            return cls(d.name, d.email, d.ou, dict(d.tags))
        return cls(d["name"], d["email"], d["ou"], dict(d.get("tags") or {}))


@dataclass
class Outcome:
    name: str
    email: str
    status: str  # created | existed | in-progress | failed
    account_id: str | None = None
    request_id: str | None = None
    reason: str | None = None
    backend: str = "organizations"

    def to_dict(self) -> dict:
        return asdict(self)


def _all(client, operation: str, key: str, **kwargs) -> list[dict]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def org_accounts_by_email(ctx: AwsContext) -> dict[str, dict]:
    return {a["Email"].lower(): a for a in _all(ctx.client("organizations"), "list_accounts", "Accounts")}


# The account_vending Params' bounds (README, "Account vending"): a readiness check costs AWS calls,
# so it is never more often than every 5 s; a wait is at most a day. FLEET_MIN_POLL_SECONDS (the
# worker's environment, set by whoever runs the deployment, never by a trigger) lowers the floor for a
# local test rig whose accounts are ready in a second.
MIN_POLL_SECONDS = 5.0
MAX_POLL_SECONDS = 3600.0
MAX_READINESS_MINUTES = 1440.0


class VendingParamError(ValueError):
    """A vending Param outside its bounds; the message names the Param and the bounds."""


def readiness_settings(vending: Vending, timeout_minutes: Any = None, poll_seconds: Any = None) -> tuple[float, float]:
    """(timeout in seconds, poll interval in seconds) from the Params, else the config; refused out of bounds."""
    floor = min(MIN_POLL_SECONDS, float(os.environ.get("FLEET_MIN_POLL_SECONDS") or MIN_POLL_SECONDS))
    poll = _number("poll_seconds", vending.poll_seconds if poll_seconds is None else poll_seconds,
                   floor, MAX_POLL_SECONDS)
    timeout = _number("readiness_timeout_minutes",
                      vending.readiness_timeout_minutes if timeout_minutes is None else timeout_minutes,
                      0, MAX_READINESS_MINUTES, exclusive_min=True)
    return 60 * timeout, poll


def _number(name: str, value: Any, low: float, high: float, exclusive_min: bool = False) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = math.nan
    if isinstance(value, bool) or not math.isfinite(number) or number > high or \
            (number <= low if exclusive_min else number < low):
        raise VendingParamError(f"{name}: a number {'above' if exclusive_min else 'of at least'} {low:g} and at "
                                f"most {high:g}, got {value!r}")
    return number


def plan_requests(ctx: AwsContext, fleet: FleetConfig, param_accounts: list[dict] | None = None) -> list[Request]:
    """The Param's accounts when given (validated by the config's rules, ConfigError naming the item),
    else the config's accounts that are not in the organization yet."""
    if param_accounts:
        return [Request.of(a) for a in account_requests(param_accounts, fleet)]
    live = org_accounts_by_email(ctx)
    return [Request.of(a) for a in fleet.accounts if a.email.lower() not in live]


# -- requesting ------------------------------------------------------------------------------------

def request_account(ctx: AwsContext, req: Request, *, vending: Vending, run_id: str,
                    log: RequestLog | None = None) -> Outcome:
    """Start ``req`` unless it exists or is already under way; record and return its one outcome.

    Safe to call again for the same request (a retried task, a rerun DAG, a second requester): the
    record and the organization are read first, and an account is only created when neither shows
    it created, in flight, or failed earlier in this same run.
    """
    log = log or RequestLog(ctx)
    backend = vending.backend
    record = log.get(req.email)
    existing = org_accounts_by_email(ctx).get(req.email.lower())
    if existing is not None:
        ours = record is not None and record.get("run_id") == run_id and record.get("outcome") != "existed"
        out = Outcome(req.name, req.email, "created" if ours else "existed", existing["Id"],
                      (record or {}).get("request_id") if ours else None, backend=backend)
        return _record(log, req, out, run_id, record)
    if record and record.get("request_id") and record.get("outcome") == "in-progress":
        state = creation_state(ctx, record.get("backend", backend), record["request_id"])
        if state["state"] == "IN_PROGRESS":
            return _record(log, req, Outcome(req.name, req.email, "in-progress", None, record["request_id"],
                                             backend=record.get("backend", backend)), run_id, record)
        if state["state"] == "FAILED":
            if record.get("run_id") == run_id:  # this run already asked and AWS said no: report, do not repeat
                return _record(log, req, Outcome(req.name, req.email, "failed", None, record["request_id"],
                                                 state["reason"], record.get("backend", backend)), run_id, record)
        elif state["account_id"]:
            return _record(log, req, Outcome(req.name, req.email, "created", state["account_id"],
                                             record["request_id"], backend=record.get("backend", backend)),
                           run_id, record)
    flying = _in_flight(ctx, backend, req.name)
    if flying is not None:  # started by a try whose response or record was lost
        return _record(log, req, Outcome(req.name, req.email, "in-progress", None, flying, backend=backend),
                       run_id, record)
    try:
        request_id = _start(ctx, backend, req, vending, run_id)
    except account_factory.NameStillTaken:
        raise  # not an outcome: the task's retry asks again once the name is free
    except Exception as exc:
        out = Outcome(req.name, req.email, "failed", reason=f"{error_code(exc) or type(exc).__name__}: {exc}",
                      backend=backend)
        return _record(log, req, out, run_id, None)
    return _record(log, req, Outcome(req.name, req.email, "in-progress", None, request_id, backend=backend),
                   run_id, None)


def _record(log: RequestLog, req: Request, out: Outcome, run_id: str, previous: dict | None) -> Outcome:
    keep_run = previous is not None and out.status == "in-progress" and previous.get("outcome") == "in-progress"
    log.put({**req.to_dict(), "outcome": out.status, "account_id": out.account_id, "request_id": out.request_id,
             "reason": out.reason, "backend": out.backend,
             "run_id": previous["run_id"] if keep_run and previous.get("run_id") else run_id,
             "stage": "failed" if out.status == "failed" else "requested"})
    return out


def _in_flight(ctx: AwsContext, backend: str, name: str) -> str | None:
    if backend == "control_tower":
        found = account_factory.in_flight(ctx, name)
        if found and found["status"] in ("ERROR", "TAINTED"):  # an earlier run's failed attempt
            account_factory.terminate_failed(ctx, name)
            return None
        return found["record_id"] if found else None
    statuses = _all(ctx.client("organizations"), "list_create_account_status", "CreateAccountStatuses",
                    States=["IN_PROGRESS"])
    return next((s["Id"] for s in statuses if s.get("AccountName") == name), None)


def _start(ctx: AwsContext, backend: str, req: Request, vending: Vending, run_id: str) -> str:
    if backend == "control_tower":
        return account_factory.provision(ctx, name=req.name, email=req.email, ou=req.ou,
                                         product_name=vending.account_factory_product,
                                         sso_first_name=vending.sso_first_name, sso_last_name=vending.sso_last_name,
                                         run_id=run_id)
    status = ctx.client("organizations").create_account(Email=req.email, AccountName=req.name)
    return status["CreateAccountStatus"]["Id"]


def creation_state(ctx: AwsContext, backend: str, request_id: str) -> dict:
    """{"state": IN_PROGRESS | SUCCEEDED | FAILED, "account_id", "reason"} of a creation request."""
    if backend == "control_tower":
        return account_factory.record_status(ctx, request_id)
    s = ctx.client("organizations").describe_create_account_status(
        CreateAccountRequestId=request_id)["CreateAccountStatus"]
    return {"state": s["State"], "account_id": s.get("AccountId"), "reason": s.get("FailureReason")}


# -- readiness -------------------------------------------------------------------------------------

@dataclass
class Readiness:
    """Where an account is on its way to ready: create -> role -> regions -> ready (or failed)."""

    stage: str
    account_id: str | None = None
    detail: str = ""

    @property
    def done(self) -> bool:
        return self.stage in {"ready", "failed"}

    def to_dict(self) -> dict:
        return asdict(self)


def check_ready(ctx: AwsContext, name: str, request_id: str | None, account_id: str | None,
                regions: tuple[str, ...] | list[str], backend: str = "organizations") -> Readiness:
    """One look at an account's readiness; no waiting (a sensor's trigger does the waiting)."""
    if account_id is None:
        state = creation_state(ctx, backend, request_id)
        if state["state"] == "FAILED":
            return Readiness("failed", None, f"account {name}: creation failed: {state['reason']}")
        if state["state"] != "SUCCEEDED" or not state["account_id"]:
            return Readiness("create", None, f"account {name}: creation {state['state']}")
        account_id = state["account_id"]
    try:
        ctx.client("sts", account_id).get_caller_identity()
    except Exception as exc:  # not assumable yet is the normal case for a new account
        return Readiness("role", account_id, f"account {name} ({account_id}): pipeline role not assumable yet ({exc})")
    for region in regions:
        try:
            ctx.client("sts", account_id, region).get_caller_identity()
        except Exception as exc:
            return Readiness("regions", account_id,
                             f"account {name} ({account_id}): region {region} not answering yet ({exc})")
    return Readiness("ready", account_id, f"account {name} ({account_id}): ready in {', '.join(regions)}")


@dataclass
class ReadinessWatch:
    """Follows one account through its readiness stages against a clock the caller owns (the
    triggerer's event loop, a test's fake clock), and turns "too long" into a failure naming it."""

    name: str
    timeout: float
    started: float
    seen: list[str] = field(default_factory=list)
    polls: int = 0

    def observe(self, state: Readiness, now: float) -> Readiness | None:
        """The final state once done or timed out; None to look again later."""
        self.polls += 1
        if not self.seen or self.seen[-1] != state.stage:
            self.seen.append(state.stage)
        if state.done:
            return state
        if now - self.started >= self.timeout:
            return Readiness("failed", state.account_id,
                             f"account {self.name} not ready after {self.timeout:.0f}s, still waiting for "
                             f"{state.stage}: {state.detail}")
        return None


def wait_ready(ctx: AwsContext, name: str, request_id: str | None, account_id: str | None,
               regions: tuple[str, ...], *, timeout: float, poll: float = 15.0, backend: str = "organizations",
               sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
               check: Callable[..., Readiness] = check_ready) -> tuple[Readiness, list[str]]:
    """Poll ``check`` until ready, failed, or ``timeout``; returns the final state and the stages seen.
    For the CLI and tests; Airflow waits in the triggerer (``fleet_airflow.triggers``) instead."""
    watch = ReadinessWatch(name, timeout, clock())
    while True:
        state = check(ctx, name, request_id, account_id, regions, backend)
        account_id = state.account_id or account_id
        final = watch.observe(state, clock())
        if final is not None:
            return final, watch.seen
        sleep(poll)


def settle(log: RequestLog, req: Request, run_id: str, readiness: Readiness) -> dict:
    """Record what readiness ended in: an account id to set up, or the failure and its reason."""
    record = log.get(req.email) or {**req.to_dict(), "run_id": run_id}
    if readiness.stage == "ready":
        outcome = record.get("outcome") if record.get("outcome") in ("created", "existed") else "created"
        return log.put({**record, "outcome": outcome, "account_id": readiness.account_id, "stage": "ready",
                        "reason": None})
    return log.put({**record, "outcome": "failed", "account_id": readiness.account_id, "stage": "failed",
                    "reason": readiness.detail})


def final_outcomes(log: RequestLog, requests: list[Request]) -> list[dict]:
    """One line per request, in request order: created | existed | failed (with the reason)."""
    records = log.many([r.email for r in requests])
    out = []
    for r in requests:
        rec = records.get(r.email.lower())
        if rec is None:
            out.append({**r.to_dict(), "outcome": "failed", "reason": "never requested (the request task did not run)",
                        "stage": "failed"})
            continue
        if rec.get("outcome") not in OUTCOMES or rec.get("stage") not in ("set-up", "failed"):
            rec = {**rec, "outcome": "failed",
                   "reason": rec.get("reason") or f"stopped at {rec.get('stage')} (a task did not finish); "
                                                  "rerun the DAG to resume"}
        out.append(rec)
    return out
