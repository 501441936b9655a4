"""The fleet view (``fleet.fleetview``): every account's status from the ledger, the drift report and
the organization; the latest rollout, pending approvals, vending requests, drift, on local AWS."""

from __future__ import annotations

import uuid

import pytest

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet import approval, fleetview, report
from fleet.ledger import Entry, Ledger
from fleet.stacks import DeployResult
from tests.support import REPO

OLD, NEW = "a" * 64, "b" * 64


def entry(status="created", digest=NEW, updated="2026-11-30T10:00:00+00:00", stack="fleet-security-baseline"):
    return Entry("111111111111", "us-east-1", stack, "acc", digest, status, updated_at=updated, run_id="r1",
                 last_good_digest=digest if status != "failed" else OLD)


@pytest.mark.parametrize("entries, drifted, expected", [
    ([], set(), "never_deployed"),
    ([entry()], set(), "in_sync"),
    ([entry(digest=OLD)], set(), "behind"),
    ([entry(), entry(status="failed", stack="fleet-other")], set(), "failed"),
    ([entry()], {("111111111111", "us-east-1", "fleet-security-baseline")}, "drifted"),
    # Stacks no longer managed (deleted after an approved plan, retained) do not decide the status.
    ([entry(), entry(status="deleted", digest=OLD, stack="fleet-network")], set(), "in_sync"),
    ([entry(status="retained", digest=OLD)], set(), "never_deployed"),
])
def test_account_status(entries, drifted, expected):
    assert fleetview.account_state(entries, NEW, drifted)["status"] == expected


def test_each_stack_names_its_baseline_and_removed_stacks_are_listed_as_such():
    rows = fleetview.account_state([entry(), entry(status="retained", stack="fleet-network")], NEW, set())["stacks"]
    assert [(r["baseline"], r["status"]) for r in rows] == [("security-baseline", "created"), ("network", "retained")]


def test_the_current_bundle_is_the_latest_successful_deployment():
    entries = [entry(digest=OLD, updated="2026-11-29T10:00:00+00:00"), entry(updated="2026-11-30T10:00:00+00:00"),
               entry(status="failed", digest="c" * 64, updated="2026-12-01T10:00:00+00:00")]
    assert fleetview.current_digest(entries) == NEW
    assert fleetview.current_digest([]) is None


@pytest.fixture
def view(seeded_fleet, seeded_org):
    """A FleetView of the sample config on this worker's local AWS, with tables and a bucket of its own
    (other tests write the default ledger and bucket on the same server)."""
    from fleet.aws import ensure_table
    from fleet.config import load_config

    tag = uuid.uuid4().hex[:8]
    ctx = seeded_fleet
    bucket = f"fleet-view-{tag}"
    ctx.client("s3").create_bucket(Bucket=bucket)
    v = fleetview.FleetView(ctx, load_config(REPO / "include" / "fleet.yaml"), bucket=bucket,
                            ledger_table=f"ledger-{tag}", requests_table=f"requests-{tag}")
    Ledger(ctx, v.ledger_table).ensure_table()
    ensure_table(ctx.client("dynamodb"), v.requests_table, {"email": "HASH"})
    v.seeded = seeded_org.accounts  # account name -> id
    return v


def record(view, name, status="created", digest=NEW, stack="fleet-security-baseline", run="run-1"):
    account_id = view.seeded[name]
    Ledger(view.ctx, view.ledger_table).record(
        [(DeployResult(account_id, name, "us-east-1", stack, status, error="AccessDenied: no" if status == "failed"
                       else None), digest)], run)
    return account_id


def test_accounts_with_status_ou_tags_and_filters(view):
    import time

    record(view, "app-prod-01", digest=OLD, run="run-0")
    behind = record(view, "app-prod-02", digest=OLD, run="run-0")
    time.sleep(1.1)  # the ledger's times have whole seconds: run-1 comes after run-0
    synced = record(view, "app-prod-01", run="run-1")
    failed = record(view, "app-prod-03", status="failed", run="run-1")
    out = view.accounts()
    by_id = {a["account_id"]: a for a in out["accounts"]}
    assert out["current_digest"] == NEW
    assert by_id[synced]["status"] == "in_sync" and by_id[synced]["last_good_digest"] == NEW
    assert by_id[synced]["ou"] == "Prod" and by_id[synced]["last_run_id"] == "run-1"
    assert by_id[behind]["status"] == "behind" and by_id[failed]["status"] == "failed"
    assert by_id[failed]["stacks"][0]["error"] == "AccessDenied: no"
    beta = view.seeded["beta-test"]
    assert by_id[beta]["status"] == "never_deployed"
    assert sum(out["counts"].values()) == len(out["accounts"]) and out["counts"]["in_sync"] == 1
    assert "Prod" in out["ous"]
    only = view.accounts(ou="Prod", status="failed")["accounts"]
    assert [a["account_id"] for a in only] == [failed]


def test_a_drifted_stack_marks_its_account_drifted(view):
    synced = record(view, "app-prod-01")
    doc = {"run_id": "drift-1", "finished_at": "2026-12-01T05:00:00+00:00", "summary": {"text": "1 drifted"},
           "stacks": [{"account_name": "app-prod-01", "account_id": synced, "region": "us-east-1",
                       "stack_name": "fleet-security-baseline", "status": "DRIFTED", "resources": [{}]}]}
    view.ctx.client("s3").put_object(Bucket=view.bucket, Key="drift/drift-1/report.json", Body=str.encode(
        __import__("json").dumps(doc)))
    assert {a["account_id"]: a["status"] for a in view.accounts()["accounts"]}[synced] == "drifted"
    assert view.drift()["stacks"][0]["resources"] == 1 and view.drift()["run_id"] == "drift-1"


def test_run_report_and_latest_rollout_from_the_stored_reports(view):
    doc = report.build("manual__2026-12-01T01:00:00+00:00", {"bucket": view.bucket, "digest": NEW},
                       {"prod": {"status": "failed"}})
    doc["rollout"] = {"halted": True, "halt_reason": "wave 2: 1 failed", "not_started": [], "waves": [
        {"wave": 1, "outcome": "succeeded", "accounts": ["app-prod-01"], "failed_accounts": [], "stacks": 1,
         "rolled_back": 0, "tolerance": 0}]}
    report.store(view.ctx, doc)
    assert view.run_report("manual__2026-12-01T01:00:00+00:00")["bundle"]["digest"] == NEW
    assert view.run_report(approval.safe_key("manual__2026-12-01T01:00:00+00:00"))["run_id"].startswith("manual__")
    assert view.run_report("no-such-run") is None
    latest = view.latest_rollout()
    assert latest["halted"] and latest["halt_reason"] == "wave 2: 1 failed" and latest["waves"][0]["wave"] == 1


def test_pending_approvals_until_a_decision_that_counts_exists(view):
    key = b"k" * 32  # the page holds no key: every rule but the signature is applied
    store = approval.S3Store(view.ctx, view.bucket)
    approval.request(store, run_id="run-a", bundle_digest=NEW, plan_digest="p", summary="3 accounts: 3 change",
                     triggered_by="admin", approvers=("platform-lead",))
    approval.request(store, run_id="run-b", bundle_digest=NEW, plan_digest="p", summary="x", triggered_by=None,
                     approvers=("platform-lead",))
    store.put(approval.decisions_prefix("run-b") + "1.json", {"approve": True})  # malformed: still waiting
    approval.request(store, run_id="run-c", bundle_digest=NEW, plan_digest="p", summary="x", triggered_by=None,
                     approvers=("platform-lead",))
    approval.decide(store, run_id="run-c", approver="platform-lead", approve=True, reason="",
                    key=Ed25519PrivateKey.generate())  # signed: the Fleet page holds no keys, the gate checks it
    pending = view.approvals()
    assert [p["run_id"] for p in pending] == ["run-a", "run-b"]
    assert pending[0]["approvers"] == ["platform-lead"] and pending[0]["summary"] == "3 accounts: 3 change"
    assert pending[0]["age_seconds"] >= 0 and pending[0]["deadline"] > pending[0]["requested_at"]


def test_the_api_server_reads_the_snapshot_at_start_up():
    from fleet_airflow.ui.warmup import FleetSnapshotWarmup

    reads = []

    class View:
        def __getattr__(self, name):
            return lambda: reads.append(name)

    warmup = FleetSnapshotWarmup(app=None, view_factory=View)  # what building the middleware stack does
    warmup.thread.join(5)
    assert reads == ["accounts", "latest_rollout", "approvals", "vending", "drift"]

    def broken():
        raise RuntimeError("no connection")

    failing = FleetSnapshotWarmup(app=None, view_factory=broken)  # logged, never raised into the server
    failing.thread.join(5)
    assert not failing.thread.is_alive()


def test_vending_requests_with_outcome_and_reason(view):
    from fleet.vending_log import RequestLog

    log = RequestLog(view.ctx, view.requests_table)
    log.put({"email": "a@example.com", "name": "a", "outcome": "created", "stage": "set-up", "account_id": "1"})
    log.put({"email": "b@example.com", "name": "b", "outcome": "failed", "stage": "failed",
             "reason": "EMAIL_ALREADY_EXISTS"})
    log.put({"email": "c@example.com", "name": "c", "stage": "set-up-failed", "reason": "set-up: boom"})
    log.put({"email": "d@example.com", "name": "d", "stage": "requested"})
    got = {r["name"]: (r["outcome"], r["reason"]) for r in view.vending()}
    assert got == {"a": ("created", None), "b": ("failed", "EMAIL_ALREADY_EXISTS"), "c": ("failed", "set-up: boom"),
                   "d": ("in_progress", None)}


def test_nothing_yet_reads_as_empty_not_as_an_error(seeded_fleet):
    from fleet.config import load_config

    v = fleetview.FleetView(seeded_fleet, load_config(REPO / "include" / "fleet.yaml"),
                            bucket=f"none-{uuid.uuid4().hex[:8]}", ledger_table="no-ledger",
                            requests_table="no-requests")
    assert v.ledger() == [] and v.vending() == [] and v.drift() is None and v.latest_rollout() is None
    assert v.approvals() == [] and v.run_report("r") is None


class Counting:
    """A stand-in FleetView whose accounts() counts its reads and can be made slow."""

    def __init__(self):
        import threading

        self.config, self.bucket, self.reads = None, "b", 0
        self.release = threading.Event()
        self.release.set()

    def accounts(self):
        self.release.wait(5)
        self.reads += 1
        return {"counts": {}, "ous": [], "current_digest": None,
                "accounts": [{"ou": "Prod", "status": "failed", "n": self.reads},
                             {"ou": "Beta", "status": "in_sync", "n": self.reads}]}


def test_the_cached_view_serves_its_snapshot_and_refreshes_it_in_the_background():
    import time

    now = [0.0]
    inner = Counting()
    cached = fleetview.CachedView(inner, max_age=15, clock=lambda: now[0])
    assert cached.accounts()["accounts"][0]["n"] == 1 and inner.reads == 1  # the first read waits
    now[0] = 10
    assert cached.accounts(ou="Prod")["accounts"] == [{"ou": "Prod", "status": "failed", "n": 1}]
    assert inner.reads == 1 and cached.as_of() == 10  # young enough: no read, filtered in memory
    inner.release.clear()
    now[0] = 20
    assert cached.accounts()["accounts"][0]["n"] == 1  # stale: served at once, refresh started
    assert cached.accounts()["accounts"][0]["n"] == 1 and inner.reads == 1  # one refresh at a time
    inner.release.set()
    for _ in range(100):
        if cached.accounts()["accounts"][0]["n"] == 2:
            break
        time.sleep(0.02)
    assert cached.accounts()["accounts"][0]["n"] == 2 and inner.reads == 2


def test_no_max_age_reads_every_time():
    inner = Counting()
    cached = fleetview.CachedView(inner, max_age=0)
    cached.accounts()
    cached.accounts(status="failed")
    assert inner.reads == 2


def test_a_request_past_its_deadline_is_no_longer_pending(view):
    from datetime import datetime, timedelta, timezone

    store = approval.S3Store(view.ctx, view.bucket)
    approval.request(store, run_id="run-old", bundle_digest=NEW, plan_digest="p", summary="s", triggered_by=None,
                     approvers=("platform-lead",))
    later = datetime.now(timezone.utc) + timedelta(hours=view.config.approval.timeout_hours + 1)
    assert [p["run_id"] for p in view.approvals()] == ["run-old"]
    assert view.approvals(now=later) == []


def test_the_fleet_page_reloads_soon_when_it_shows_a_stale_snapshot_else_at_the_watching_pace():
    # Seen on `make up`: the page opened after a rollout showed the snapshot read before it ("data
    # read 202 s ago", every account never_deployed) while the refresh ran behind it.
    from fleet_airflow.ui import page

    empty = {"counts": dict.fromkeys(fleetview.STATUSES, 0), "ous": [], "current_digest": None, "accounts": []}

    def html(as_of, max_age):
        return page.fleet_page(accounts=empty, rollout=None, approvals=[], vending=[], drift=None, ou=None,
                               status=None, as_of=as_of, max_age=max_age)

    stale = html(202.0, 15)
    assert "<meta http-equiv=refresh content='2'>" in stale and "reading it again" in stale
    fresh = html(3.0, 15)
    assert "<meta http-equiv=refresh content='30'>" in fresh and "reading it again" not in fresh
    assert "content='30'" in html(None, 0)  # no snapshot (every read goes to AWS): the watching pace
