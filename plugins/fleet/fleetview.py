"""The fleet as operators see it: every account's status, the latest rollout, approvals, vending, drift.

Read-only and plain Python: the Fleet page (``fleet_airflow.ui``) and scripts call these functions;
the data comes from the ledger (``fleet-ledger``), the request log (``fleet-account-requests``) and the
artifacts bucket (run reports, approval requests, drift reports). Every read is one paginated scan
or listing, never one call per account, so the page stays under a second for 1,000 accounts
(``bench/fleet_page.py``).
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

from fleet import approval, source
from fleet.accounts import OUTCOMES
from fleet.aws import AwsContext, error_code
from fleet.config import FleetConfig
from fleet.ledger import TABLE as LEDGER_TABLE
from fleet.ledger import Entry, Ledger, baseline_of_stack
from fleet.report import safe_key
from fleet.vending_log import TABLE as REQUESTS_TABLE

STATUSES = ("in_sync", "behind", "failed", "drifted", "never_deployed")


class FleetView:
    """One fleet's state; ``config`` says which accounts and stacks there should be."""

    def __init__(self, ctx: AwsContext, config: FleetConfig, *, bucket: str | None = None,
                 ledger_table: str = LEDGER_TABLE, requests_table: str = REQUESTS_TABLE):
        self.ctx, self.config = ctx, config
        org = config.organization
        self.bucket = bucket or source.artifacts_bucket(org.management_account, org.home_region)
        self.ledger_table, self.requests_table = ledger_table, requests_table

    # -- raw reads -----------------------------------------------------------------------------------
    def ledger(self) -> list[Entry]:
        try:
            return Ledger(self.ctx, self.ledger_table).scan()
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":  # no rollout yet
                return []
            raise

    def org_accounts(self) -> list[dict]:
        """The organization's accounts (id, name, email, status); tags come from the config, not one
        ListTagsForResource per account."""
        pages = self.ctx.client("organizations").get_paginator("list_accounts").paginate()
        return [{"account_id": a["Id"], "name": a["Name"], "email": a["Email"], "org_status": a.get("Status")}
                for page in pages for a in page["Accounts"]]

    def _json(self, key: str) -> dict | None:
        try:
            return json.loads(self.ctx.client("s3").get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            if error_code(exc) in {"NoSuchKey", "404", "NoSuchBucket"}:
                return None
            raise

    def _keys(self, prefix: str) -> list[dict]:
        try:
            pages = self.ctx.client("s3").get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
            return [o for page in pages for o in page.get("Contents", [])]
        except Exception as exc:
            if error_code(exc) == "NoSuchBucket":
                return []
            raise

    # -- accounts ------------------------------------------------------------------------------------
    def accounts(self, *, ou: str | None = None, status: str | None = None) -> dict:
        """Every account (organization and config) with its status; ``counts`` are before filtering."""
        entries = self.ledger()
        # The bundle of the latest prod rollout, as its report says; without one, the ledger's newest.
        rollout = self.latest_rollout() or {}
        current = (rollout.get("bundle") or {}).get("digest") or current_digest(entries)
        drifted = {(s["account_id"], s["region"], s["stack_name"]) for s in self._drift_stacks()
                   if s["status"] == "DRIFTED"}
        by_account: dict[str, list[Entry]] = {}
        for e in entries:
            by_account.setdefault(e.account_id, []).append(e)
        configured = {a.name: a for a in self.config.accounts}
        rows: dict[str, dict] = {}
        for a in self.org_accounts():
            cfg = configured.get(a["name"])
            rows[a["account_id"]] = {"account_id": a["account_id"], "name": a["name"],
                                     "ou": cfg.ou if cfg else None, "tags": dict(cfg.tags) if cfg else {}}
        for e in entries:  # an account the ledger knows but the organization no longer lists
            rows.setdefault(e.account_id, {"account_id": e.account_id, "name": e.account_name,
                                           "ou": configured[e.account_name].ou if e.account_name in configured
                                           else None,
                                           "tags": dict(configured[e.account_name].tags)
                                           if e.account_name in configured else {}})
        out = [{**row, **account_state(by_account.get(acc, []), current, drifted)} for acc, row in rows.items()]
        counts = Counter(r["status"] for r in out)
        out = [r for r in out if (not ou or r["ou"] == ou) and (not status or r["status"] == status)]
        out.sort(key=lambda r: (STATUSES.index(r["status"]), r["name"]))
        return {"current_digest": current, "counts": {s: counts.get(s, 0) for s in STATUSES},
                "ous": sorted({ou for top in self.config.ous for o, _ in top.walk() for ou in [o.name]}),
                "accounts": out}

    # -- runs ----------------------------------------------------------------------------------------
    def run_report(self, run_id: str) -> dict | None:
        return self._json(f"reports/{safe_key(run_id)}/report.json")

    def plan(self, run_id: str) -> dict | None:
        """The prod plan of a run (``plans/<run>/plan.json``)."""
        return self._json(f"plans/{safe_key(run_id)}/plan.json")

    def latest_rollout(self) -> dict | None:
        """The waves of the most recent run report that has a prod rollout."""
        reports = sorted(self._keys("reports/"), key=lambda o: o["LastModified"], reverse=True)
        for obj in reports:
            if not obj["Key"].endswith("/report.json"):
                continue
            doc = self._json(obj["Key"])
            if doc and doc.get("rollout"):
                return {"run_id": doc["run_id"], "bundle": doc.get("bundle"), **doc["rollout"]}
        return None

    # -- approvals -----------------------------------------------------------------------------------
    def approvals(self, now: datetime | None = None) -> list[dict]:
        """Requests with no decision that counts yet and not past their deadline: run, plan summary,
        approvers, age, deadline. (An answer from someone who may not approve leaves a run listed.)"""
        now = now or datetime.now(UTC)
        store = approval.open_store(self.ctx, self.config.approval, self.bucket)
        try:
            keys = store.list("approvals/")
        except Exception as exc:
            if error_code(exc) in {"NoSuchBucket", "ResourceNotFoundException"}:
                return []
            raise
        answered = {k.split("/")[1] for k in keys if "/decisions/" in k}
        pending = []
        for key in keys:
            run = key.split("/")[1]
            if not key.endswith("/request.json"):
                continue
            req = store.get(key) or {}
            if run in answered and req.get("run_id") and approval.settled(store, req):
                continue
            asked = _parse(req.get("requested_at")) or now
            hours = float(req.get("timeout_hours") or self.config.approval.timeout_hours)
            if now > asked + timedelta(hours=hours):
                continue  # the gate timed out: nothing waits for this decision any more
            pending.append({"run_id": req.get("run_id", run), "summary": req.get("summary"),
                            "bundle_digest": req.get("bundle_digest"), "approvers": req.get("approvers", []),
                            "requested_at": asked.isoformat(timespec="seconds"),
                            "age_seconds": int((now - asked).total_seconds()),
                            "deadline": (asked + timedelta(hours=hours)).isoformat(timespec="seconds"),
                            "command": req.get("command")})
        return sorted(pending, key=lambda p: p["requested_at"])

    # -- vending and drift ---------------------------------------------------------------------------
    def vending(self) -> list[dict]:
        ddb = self.ctx.client("dynamodb")
        try:
            pages = ddb.get_paginator("scan").paginate(TableName=self.requests_table)
            records = [json.loads(i["doc"]["S"]) for page in pages for i in page["Items"]]
        except Exception as exc:
            if error_code(exc) == "ResourceNotFoundException":
                return []
            raise
        return sorted(({"name": r.get("name"), "email": r.get("email"), "account_id": r.get("account_id"),
                        "outcome": outcome_of(r), "stage": r.get("stage"), "reason": r.get("reason"),
                        "run_id": r.get("run_id"), "updated_at": r.get("updated_at")} for r in records),
                      key=lambda r: r["updated_at"] or "", reverse=True)

    def drift(self) -> dict | None:
        """The latest drift report: its summary and one row per stack."""
        found = [o for o in self._keys("drift/") if o["Key"].endswith("/report.json")]
        if not found:
            return None
        latest = max(found, key=lambda o: o["LastModified"])
        doc = self._json(latest["Key"]) or {}
        return {"run_id": doc.get("run_id"), "finished_at": doc.get("finished_at"), "summary": doc.get("summary"),
                "stacks": [{k: s.get(k) for k in ("account_name", "account_id", "region", "stack_name", "status",
                                                   "error")} | {"resources": len(s.get("resources") or [])}
                           for s in doc.get("stacks", [])]}

    def _drift_stacks(self) -> list[dict]:
        latest = self.drift()
        return latest["stacks"] if latest else []


def current_digest(entries: list[Entry]) -> str | None:
    """The bundle of the latest rollout: the digest of the most recently written successful entry."""
    good = [e for e in entries if e.ok and e.bundle_digest]  # deleted / retained stacks are not ok
    return max(good, key=lambda e: e.updated_at).bundle_digest if good else None


def account_state(entries: list[Entry], current: str | None, drifted: set[tuple[str, str, str]]) -> dict:
    """An account's status from its ledger entries (one per stack and region) and the drift report.
    Stacks the pipeline no longer manages (deleted, retained) are listed but do not decide the status."""
    removed = [e for e in entries if not e.managed]
    entries = [e for e in entries if e.managed]
    stacks = [{"stack_name": e.stack_name, "baseline": e.baseline or baseline_of_stack(e.stack_name),
               "region": e.region, "bundle_digest": e.bundle_digest,
               "status": e.status, "error": e.error, "run_id": e.run_id, "updated_at": e.updated_at,
               "last_good_digest": e.last_good_digest,
               "drifted": (e.account_id, e.region, e.stack_name) in drifted}
              for e in sorted(entries, key=lambda e: (e.stack_name, e.region))]
    stacks += [{"stack_name": e.stack_name, "baseline": e.baseline or baseline_of_stack(e.stack_name),
                "region": e.region, "bundle_digest": e.bundle_digest, "status": e.status, "error": e.error,
                "run_id": e.run_id, "updated_at": e.updated_at, "last_good_digest": e.last_good_digest,
                "drifted": False} for e in sorted(removed, key=lambda e: (e.stack_name, e.region))]
    if not entries:
        status = "never_deployed"
    elif any(not e.ok for e in entries):
        status = "failed"
    elif any(s["drifted"] for s in stacks):
        status = "drifted"
    elif any(e.bundle_digest != current for e in entries):
        status = "behind"
    else:
        status = "in_sync"
    latest = max(entries, key=lambda e: e.updated_at) if entries else None
    digests = {e.bundle_digest for e in entries}
    goods = {e.last_good_digest for e in entries if e.last_good_digest}
    return {"status": status, "bundle_digest": digests.pop() if len(digests) == 1 else None,
            "last_run_id": latest.run_id if latest else None,
            "last_good_digest": goods.pop() if len(goods) == 1 else None, "stacks": stacks}


def outcome_of(record: dict) -> str:
    """A request log record's outcome as the vending report gives it (``fleet.accounts.final_outcomes``);
    a request still between stages is ``in_progress`` here, since the page also shows running requests."""
    if record.get("stage") == "set-up-failed":
        return "failed"
    if record.get("outcome") in OUTCOMES and record.get("stage") in ("set-up", "failed"):
        return record["outcome"]
    return "in_progress"


def _parse(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)



class CachedView:
    """A FleetView whose reads are served from a snapshot at most ``max_age`` seconds old.

    A page load must not wait on a scan of the whole ledger: a read older than ``max_age`` returns
    the snapshot it has and refreshes it in a background thread (one refresh per read at a time);
    only the very first read of each kind waits. ``as_of`` says how old what the page shows is.
    Filters (OU, status) apply to the snapshot, so filtering never reads AWS again.
    """

    def __init__(self, view: FleetView, max_age: float = 30.0, clock=None):
        import threading
        import time

        self.view, self.max_age = view, max_age
        self.config, self.bucket = view.config, view.bucket
        self._clock = clock or time.monotonic
        self._lock = threading.Lock()
        self._values: dict[str, tuple[float, object]] = {}
        self._refreshing: set[str] = set()

    def _get(self, name: str, read):
        import threading

        if self.max_age <= 0:  # no snapshot: every read goes to AWS (scripts and tests that need it now)
            value = read()
            self._values[name] = (self._clock(), value)
            return value
        with self._lock:
            hit = self._values.get(name)
            stale = hit is None or self._clock() - hit[0] > self.max_age
            start_refresh = hit is not None and stale and name not in self._refreshing
            if start_refresh:
                self._refreshing.add(name)
        if hit is None:
            value = read()
            with self._lock:
                self._values[name] = (self._clock(), value)
            return value
        if start_refresh:
            threading.Thread(target=self._refresh, args=(name, read), daemon=True, name=f"fleetview-{name}").start()
        return hit[1]

    def _refresh(self, name: str, read) -> None:
        try:
            value = read()
            with self._lock:
                self._values[name] = (self._clock(), value)
        finally:
            with self._lock:
                self._refreshing.discard(name)

    def as_of(self, name: str = "accounts") -> float | None:
        """Seconds since the snapshot of ``name`` was read (None: not read yet)."""
        hit = self._values.get(name)
        return None if hit is None else self._clock() - hit[0]

    def accounts(self, *, ou: str | None = None, status: str | None = None) -> dict:
        full = self._get("accounts", self.view.accounts)
        rows = [r for r in full["accounts"] if (not ou or r["ou"] == ou) and (not status or r["status"] == status)]
        return {**full, "accounts": rows}

    def latest_rollout(self) -> dict | None:
        return self._get("rollout", self.view.latest_rollout)

    def approvals(self) -> list[dict]:
        return self._get("approvals", self.view.approvals)

    def vending(self) -> list[dict]:
        return self._get("vending", self.view.vending)

    def drift(self) -> dict | None:
        return self._get("drift", self.view.drift)

    def run_report(self, run_id: str) -> dict | None:
        return self.view.run_report(run_id)  # one object: always read fresh

    def plan(self, run_id: str) -> dict | None:
        return self.view.plan(run_id)
