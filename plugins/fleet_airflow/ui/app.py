"""The Fleet page's FastAPI app: JSON under ``/fleet/api/...`` and server-rendered HTML pages.

Mounted by the API server (``FleetPlugin.fastapi_apps``); every route requires an Airflow login (the
API server's own ``get_user``: a JWT bearer token or the UI's session cookie), so a request with
neither gets 401 and a bad token 403. The data comes from ``fleet.fleetview`` (no Airflow in it):
the scripts that call the JSON and the page read the same thing.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from fleet.approval import safe_key
from fleet.fleetview import STATUSES, CachedView, FleetView
from fleet_airflow.ui import page

PREFIX = "/fleet"
DEFAULT_REPO = Path(__file__).resolve().parents[3] / "include"
CONFIG_SECONDS = 300.0  # how long the config and the AWS context are reused before being read again
# How old the data a page shows may be before a background refresh starts (FLEET_PAGE_MAX_AGE):
# a scan of a 1,000-account ledger must not sit in every page load (README, "Operator's guide").
MAX_AGE_SECONDS = float(os.environ.get("FLEET_PAGE_MAX_AGE", "15"))

_lock = threading.Lock()
_cached: dict[str, tuple[float, CachedView]] = {}


def fleet_view() -> CachedView:
    """The fleet of ``FLEET_REPO`` (default: the sample repository beside the plugins), through the
    ``FLEET_AWS_CONN_ID`` connection (default ``aws_default``), as the DAGs reach it."""
    from fleet.config import ConfigError, load_config
    from fleet_airflow.hooks import fleet_context

    repo = Path(os.environ.get("FLEET_REPO") or DEFAULT_REPO)
    conn = os.environ.get("FLEET_AWS_CONN_ID", "aws_default")
    key = f"{repo}|{conn}"
    with _lock:
        hit = _cached.get(key)
        if hit and time.monotonic() - hit[0] < CONFIG_SECONDS:
            return hit[1]
        try:
            config = load_config(repo / "fleet.yaml")
        except ConfigError as exc:
            raise HTTPException(status_code=500, detail=f"the fleet config (FLEET_REPO={repo}) is not valid: {exc}")
        org = config.organization
        fresh = FleetView(fleet_context(conn, org.home_region, org.pipeline_role), config)
        if hit:  # keep the snapshot: a new config or context must not make the next page load cold
            view = hit[1]
            view.view, view.config, view.bucket = fresh, config, fresh.bucket
        else:
            view = CachedView(fresh, max_age=MAX_AGE_SECONDS)
        _cached[key] = (time.monotonic(), view)
        return view


ViewDep = Annotated[FleetView | CachedView, Depends(fleet_view)]
_bearer = HTTPBearer(auto_error=False)


async def authenticated(request: Request,
                        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None):
    """The API server's own ``get_user`` (bearer token first, else the UI's cookie): 401 without
    either, 403 for a token it does not accept. Imported when a request comes, not when the plugin
    loads: schedulers and workers load plugins too and need none of the API server."""
    from airflow.api_fastapi.core_api.security import get_user

    return await get_user(request, None, credentials)


app = FastAPI(title="Fleet", description="The AWS account fleet: accounts, rollouts, approvals, vending, drift",
              dependencies=[Depends(authenticated)])


def _check_filters(view: FleetView, ou: str | None, status: str | None) -> None:
    if status and status not in STATUSES:
        raise HTTPException(status_code=422, detail=f"status: one of {', '.join(STATUSES)}, got {status!r}")
    ous = view.config.ou_paths()
    if ou and ou not in ous:
        raise HTTPException(status_code=422, detail=f"ou: one of the config's OUs ({', '.join(sorted(ous))}), "
                                                    f"got {ou!r}")


@app.get("/api/accounts")
def accounts(view: ViewDep, ou: Annotated[str | None, Query()] = None,
             status: Annotated[str | None, Query()] = None) -> dict:
    """Every account: id, name, OU, tags, status, bundle digest, last run, last good digest, its stacks."""
    _check_filters(view, ou, status)
    return view.accounts(ou=ou, status=status)


@app.get("/api/runs/{run_id}")
def run(run_id: str, view: ViewDep) -> dict:
    """The run report JSON of a pipeline run (by run id, raw or as stored)."""
    doc = view.run_report(run_id)
    if doc is None:
        raise HTTPException(status_code=404, detail=f"no run report for {run_id!r} (reports/{safe_key(run_id)}/"
                                                    f"report.json in {view.bucket})")
    return doc


@app.get("/api/rollout")
def rollout(view: ViewDep) -> dict:
    """The latest prod rollout as waves (null when none has run)."""
    return {"rollout": view.latest_rollout()}


@app.get("/api/approvals")
def approvals(view: ViewDep) -> dict:
    return {"pending": view.approvals()}


@app.get("/api/vending")
def vending(view: ViewDep) -> dict:
    return {"requests": view.vending()}


@app.get("/api/drift")
def drift(view: ViewDep) -> dict:
    return {"drift": view.drift()}


@app.get("/", response_class=HTMLResponse)
def index(view: ViewDep, ou: Annotated[str | None, Query()] = None,
          status: Annotated[str | None, Query()] = None) -> str:
    ou, status = ou or None, status or None  # the filter form sends empty values for "all"
    _check_filters(view, ou, status)
    return page.fleet_page(accounts=view.accounts(ou=ou, status=status), rollout=view.latest_rollout(),
                           approvals=view.approvals(), vending=view.vending(), drift=view.drift(),
                           ou=ou, status=status, as_of=getattr(view, "as_of", lambda: None)(),
                           max_age=getattr(view, "max_age", 0))


@app.get("/runs/{run_id}", response_class=HTMLResponse)
def run_page(run_id: str, view: ViewDep) -> str:
    doc = view.run_report(run_id)
    if doc is None:
        return HTMLResponse(page.missing_report(run_id, view.bucket), status_code=404)
    pending = [a for a in view.approvals() if safe_key(a["run_id"]) == safe_key(run_id)]
    return page.run_page(doc, plan=view.plan(run_id), approval=pending[0] if pending else None)
