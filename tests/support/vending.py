"""The account_vending DAG's tasks run in order by hand, without a DAG run: its own task functions
(preflight, plan, the mapped group's request and set-up, announce, report) and the AccountReadySensor,
whose trigger runs with asyncio as the triggerer would run it.

``vend`` records each task's state the way a run would (success, failed, upstream_failed, skipped)
and what each returned, so a test asserts on the same things as after a ``dag.test`` run.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

from airflow.sdk.execution_time.context import set_current_context
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException, TaskDeferred

from fleet_airflow.assets import VENDED_ACCOUNTS
from fleet_airflow.sensors import AccountReadySensor

RUN_ID = "manual__2026-11-30T11:00:00+00:00"
REALISTIC_FAST = {  # the realistic profile's states, shorter
    "name": "realistic-fast",
    "organizations": {"create_account": {"in_progress_seconds": 2,
                                         "failures": {"taken@example.com": "EMAIL_ALREADY_EXISTS"}},
                      "role_assumable_after_seconds": 0.6, "regions_answer_after_seconds": 0.6},
    "cloudformation": {"in_progress_seconds": 0.5},
}
NEW = [{"name": "new-a", "email": "new-a@example.com", "ou": "Prod", "tags": {"team": "a", "vpc_cidr": "10.201.0.0/16"}},
       {"name": "new-b", "email": "new-b@example.com", "ou": "Beta"}]
EXISTING = {"name": "audit", "email": "audit@example.com", "ou": "Security", "tags": {"tier": "core"}}
TAKEN = {"name": "dup", "email": "taken@example.com", "ou": "Prod"}


def org_emails(ctx) -> list[str]:
    org = ctx.client("organizations")
    return [a["Email"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]


def count_throttling(monkeypatch, context_class) -> list[str]:
    """Every throttling answer any fleet client receives (tasks run in this process, under dag.test or vend)."""
    seen: list[str] = []
    make = context_class.client

    def on_retry(response=None, **_):
        code = (response or (None, {}))[1].get("Error", {}).get("Code") if response else None
        if code in ("TooManyRequestsException", "Throttling", "ThrottlingException"):
            seen.append(code)

    def client(self, service, account_id=None, region=None):
        c = make(self, service, account_id, region)
        if not getattr(c, "_counting_throttles", False):
            c.meta.events.register("needs-retry", on_retry)
            c._counting_throttles = True
        return c

    monkeypatch.setattr(context_class, "client", client)
    return seen


@dataclass
class Vended:
    states: dict[tuple[str, int], str] = field(default_factory=dict)  # (task id, map index) -> state
    xcoms: dict[tuple[str, int], object] = field(default_factory=dict)
    deferrals: dict[int, TaskDeferred] = field(default_factory=dict)  # map index -> how wait_ready deferred
    announced: dict | None = None  # the fleet_vended_accounts event's extra
    errors: dict[tuple[str, int], str] = field(default_factory=dict)


def vend(dag, params: dict, run_id: str = RUN_ID) -> Vended:
    """Every task of ``dag`` (account_vending) once, in the order and under the trigger rules of a run."""
    params = {"fleet_repo": dag.params["fleet_repo"], "accounts": [], "readiness_timeout_minutes": None,
              "poll_seconds": None, **params}
    out = Vended()

    def run(task_id: str, index: int, call):
        # A task may write to its context (the mapped tasks name their map index there), so each call
        # gets a context of its own, as the task runner gives it.
        try:
            with set_current_context({"run_id": run_id, "params": params}):
                value = call()
        except AirflowSkipException as exc:
            out.states[task_id, index], out.errors[task_id, index] = "skipped", str(exc)
            return None
        except AirflowFailException as exc:
            out.states[task_id, index], out.errors[task_id, index] = "failed", str(exc)
            return None
        out.states[task_id, index], out.xcoms[task_id, index] = "success", value
        return value

    fn = lambda task_id: dag.get_task(task_id).python_callable  # noqa: E731
    settings = run("preflight", -1, lambda: fn("preflight")(params=params))
    requests = run("plan", -1, lambda: fn("plan")(settings, params=params))
    for i, request in enumerate(requests):
        started = run("vend.request_account", i, lambda: fn("vend.request_account")(request, settings, run_id=run_id))
        if started is None:
            out.states["vend.wait_ready", i] = out.states["vend.set_up", i] = "upstream_failed"
            continue
        sensor = AccountReadySensor(
            task_id="wait_ready", outcome=started, regions=settings["regions"],
            timeout_seconds=settings["timeout_seconds"], poll_interval=settings["poll_interval"],
            region_name=settings["region"], pipeline_role=settings["pipeline_role"],
            aws_conn_id=dag.get_task("vend.wait_ready").aws_conn_id)
        ready = run("vend.wait_ready", i, lambda: _wait(sensor, {"run_id": run_id}, out.deferrals, i))
        if ready is None:
            out.states["vend.set_up", i] = "upstream_failed"
            continue
        run("vend.set_up", i, lambda: fn("vend.set_up")(request, ready, settings, run_id=run_id))

    events = {VENDED_ACCOUNTS: SimpleNamespace(extra=None)}
    run("announce", -1, lambda: fn("announce")(settings, requests, outlet_events=events))  # all_done
    out.announced = events[VENDED_ACCOUNTS].extra
    run("report", -1, lambda: fn("report")(settings, requests))  # all_done
    return out


def _wait(sensor: AccountReadySensor, context: dict, deferrals: dict, index: int) -> dict:
    """The sensor's look, then (deferred) its trigger until the first event, then its resume method."""
    try:
        return sensor.execute(context)
    except TaskDeferred as deferred:
        deferrals[index] = deferred
        event = asyncio.run(_first_event(deferred.trigger))
        return getattr(sensor, deferred.method_name)(context, event.payload)


async def _first_event(trigger):
    async for event in trigger.run():
        return event
