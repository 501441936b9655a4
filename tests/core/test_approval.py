"""approval.evaluate on an in-memory Store: which decision counts, and why every other one is ignored.

No AWS here: the store is a dict, so these tests pin the rules themselves (the S3 and DynamoDB
stores are exercised against local AWS in tests/approval).
"""

from __future__ import annotations

import pytest

from fleet import approval

KEY = b"core-test-approval-key-0123456789abcdef"
RUN = "manual__2026-11-28T10:00:00+00:00"
BUNDLE, OTHER_BUNDLE = "b" * 64, "c" * 64
PLAN, OTHER_PLAN = "p" * 64, "q" * 64
APPROVERS = ("platform-lead", "security-lead")
TRIGGERED_BY = "security-lead"  # an allowed approver, who still may not approve the run they triggered


class MemoryStore:
    """The approval.Store protocol over a dict (keys listed in order, as S3 lists them)."""

    def __init__(self):
        self.docs: dict[str, dict] = {}

    def put(self, key: str, doc: dict) -> None:
        self.docs[key] = dict(doc)

    def get(self, key: str) -> dict | None:
        doc = self.docs.get(key)
        return dict(doc) if doc is not None else None

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.docs if k.startswith(prefix))


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    req = approval.request(s, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="8 accounts: 8 to change",
                           triggered_by=TRIGGERED_BY, approvers=APPROVERS)
    # Decisions before the request do not count: the fixed decisions below are made after this.
    s.put(approval.request_key(RUN), {**req, "requested_at": "2026-11-28T10:00:00+00:00"})
    return s


def judge(store: MemoryStore, *, bundle: str = BUNDLE, plan: str | None = PLAN) -> approval.Verdict:
    return approval.evaluate(store, run_id=RUN, bundle_digest=bundle, plan_digest=plan, key=KEY,
                             approvers=APPROVERS, triggered_by=TRIGGERED_BY)


def decision(**over) -> dict:
    return {"run_id": RUN, "bundle_digest": BUNDLE, "plan_digest": PLAN, "approver": "platform-lead",
            "decision": "approve", "reason": "plan reviewed", "decided_at": "2026-11-28T10:05:00+00:00",
            "via": "cli", **over}


def put(store: MemoryStore, record: dict, name: str) -> None:
    """Decisions sort by key; the names used here keep the order each test intends."""
    store.put(f"{approval.decisions_prefix(RUN)}{name}.json", record)


def test_nothing_recorded_is_waiting(store):
    v = judge(store)
    assert v.state == "waiting" and v.decision is None and v.ignored == [] and v.reason == "no valid decision yet"


def test_a_valid_approval_releases_the_run(store):
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="plan reviewed", key=KEY)
    v = judge(store)
    assert v.state == "approved" and v.ignored == []
    assert v.decision["approver"] == "platform-lead" and v.decision["bundle_digest"] == BUNDLE
    assert v.decision["plan_digest"] == PLAN and approval.signature_valid(v.decision, KEY)
    assert v.reason.startswith("approve by platform-lead at ") and v.reason.endswith(": plan reviewed")


def test_a_rejection_carries_its_reason(store):
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=False, reason="wave 1 too large", key=KEY)
    v = judge(store)
    assert v.state == "rejected" and v.decision["decision"] == "reject"
    assert v.reason.endswith(": wave 1 too large")


@pytest.mark.parametrize("record, why", [
    (decision(), "unsigned"),
    (approval.sign(decision(), b"some-other-key-0123456789abcdef"), "signature does not verify with the approval key"),
    (approval.sign(decision(bundle_digest=OTHER_BUNDLE), KEY), f"for another bundle ({OTHER_BUNDLE[:12]}, "
                                                               f"this run deploys {BUNDLE[:12]})"),
    (approval.sign(decision(plan_digest=OTHER_PLAN), KEY), "for another plan"),
    (approval.sign(decision(approver="mallory"), KEY), "approver 'mallory' is not in approval.approvers"),
    (approval.sign(decision(approver=TRIGGERED_BY), KEY),
     f"{TRIGGERED_BY!r} triggered this run and cannot approve it (segregation of duties)"),
    (approval.sign(decision(run_id="manual__other"), KEY), "for another run (manual__other)"),
    (approval.sign(decision(decision="maybe"), KEY), "unknown decision 'maybe'"),
], ids=["unsigned", "wrong-signature", "other-bundle", "other-plan", "approver-not-allowed",
        "self-approval", "other-run", "unknown-decision"])
def test_an_invalid_record_is_ignored_with_its_reason(store, record, why):
    put(store, record, "2026-11-28T10:05:00-bad")
    v = judge(store)
    assert v.state == "waiting" and v.decision is None
    assert v.ignored == [f"2026-11-28T10:05:00-bad.json: {why}"]


def test_a_record_altered_after_signing_no_longer_verifies(store):
    signed = approval.sign(decision(decision="reject", reason="no"), KEY)
    put(store, {**signed, "decision": "approve"}, "2026-11-28T10:05:00-tampered")
    v = judge(store)
    assert v.state == "waiting" and "signature does not verify" in v.ignored[0]


def test_invalid_records_are_reported_and_the_first_valid_one_wins(store):
    put(store, decision(), "2026-11-28T10:01:00-unsigned")
    put(store, approval.sign(decision(approver=TRIGGERED_BY), KEY), "2026-11-28T10:02:00-self")
    put(store, approval.sign(decision(decision="reject", reason="not today"), KEY), "2026-11-28T10:03:00-reject")
    put(store, approval.sign(decision(), KEY), "2026-11-28T10:04:00-approve")
    v = judge(store)
    assert v.state == "rejected" and v.decision["reason"] == "not today"
    assert [i.split(":", 3)[-1].strip() for i in v.ignored] == [
        "unsigned", f"{TRIGGERED_BY!r} triggered this run and cannot approve it (segregation of duties)"]


def test_an_approval_of_one_bundle_never_releases_another(store):
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="ok", key=KEY)
    assert judge(store).state == "approved"
    swapped = judge(store, bundle=OTHER_BUNDLE)
    assert swapped.state == "waiting" and "for another bundle" in swapped.ignored[0]
    replanned = judge(store, plan=OTHER_PLAN)
    assert replanned.state == "waiting" and replanned.ignored[0].endswith("for another plan")


def test_decide_binds_to_the_pending_request_and_refuses_without_one():
    empty = MemoryStore()
    with pytest.raises(approval.ApprovalError, match="no approval request"):
        approval.decide(empty, run_id=RUN, approver="platform-lead", approve=True, reason="", key=KEY)


def test_the_request_is_idempotent_and_names_the_exact_commands(store):
    again = approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="other words",
                             triggered_by=TRIGGERED_BY, approvers=APPROVERS)
    assert again["summary"] == "8 accounts: 8 to change"
    assert again["command"] == ("fleet approve manual__2026-11-28T10:00:00+00:00 --approver <your approver id> "
                                "--reason '<what you checked>'")
    assert "--reject" in again["reject_command"]
