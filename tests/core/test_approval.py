"""approval.evaluate on an in-memory Store: which decision counts, and why every other one is ignored.

No AWS here: the store is a dict, so these tests pin the rules themselves (the S3 and DynamoDB
stores are exercised against local AWS in tests/approval). Every approver signs with a key pair
of their own, made per test session: no key is in the repository.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet import approval, sshkeys

RUN = "manual__2026-11-28T10:00:00+00:00"
BUNDLE, OTHER_BUNDLE = "b" * 64, "c" * 64
PLAN, OTHER_PLAN = "p" * 64, "q" * 64
TRIGGERED_BY = "security-lead"  # an allowed approver, who still may not approve the run they triggered
REQUESTED = "2026-11-28T10:00:00+00:00"
KEYS = {name: Ed25519PrivateKey.generate() for name in ("platform-lead", "security-lead", "mallory")}
APPROVERS = tuple({"name": n, "email": f"{n}@example.com", "public_key": sshkeys.public_line(KEYS[n], n)}
                  for n in ("platform-lead", "security-lead"))
NAMES = tuple(a["name"] for a in APPROVERS)


class MemoryStore:
    """The approval.Store protocol over a dict (keys listed in order, as S3 lists them)."""

    def __init__(self):
        self.docs: dict[str, object] = {}

    def put(self, key: str, doc: dict) -> None:
        self.docs[key] = dict(doc) if isinstance(doc, dict) else doc

    def get(self, key: str) -> dict | None:
        doc = self.docs.get(key)
        return dict(doc) if isinstance(doc, dict) else doc

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.docs if k.startswith(prefix))


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    approval.request(s, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="8 accounts: 8 to change",
                     triggered_by=TRIGGERED_BY, approvers=NAMES)
    s.docs[approval.request_key(RUN)]["requested_at"] = REQUESTED  # the decisions below come after it
    return s


def judge(store: MemoryStore, *, bundle: str = BUNDLE, plan: str | None = PLAN, authors=(),
          ui=None) -> approval.Verdict:
    return approval.evaluate(store, run_id=RUN, bundle_digest=bundle, plan_digest=plan, approvers=APPROVERS,
                             triggered_by=TRIGGERED_BY, authors=authors, ui_decision=ui)


def signed(record: dict, by: str | None = None) -> dict:
    """``record`` signed with the private key of ``by`` (default: the approver it names)."""
    return approval.sign(record, KEYS[by or record["approver"]])


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
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="plan reviewed",
                    key=KEYS["platform-lead"])
    v = judge(store)
    assert v.state == "approved" and v.ignored == []
    assert v.decision["approver"] == "platform-lead" and v.decision["bundle_digest"] == BUNDLE
    assert v.decision["plan_digest"] == PLAN and approval.signature_valid(v.decision, APPROVERS[0]["public_key"])
    assert not approval.signature_valid(v.decision, APPROVERS[1]["public_key"])
    assert v.reason.startswith("approve by platform-lead at ") and v.reason.endswith(": plan reviewed")


def test_a_rejection_carries_its_reason(store):
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=False, reason="wave 1 too large",
                    key=KEYS["platform-lead"])
    v = judge(store)
    assert v.state == "rejected" and v.decision["decision"] == "reject"
    assert v.reason.endswith(": wave 1 too large")


@pytest.mark.parametrize("record, why", [
    (decision(), "unsigned"),
    # Signed, by someone else's key (mallory signs as platform-lead; security-lead signs as platform-lead).
    (signed(decision(), by="mallory"), "signature does not verify with platform-lead's public key"),
    (signed(decision(), by="security-lead"), "signature does not verify with platform-lead's public key"),
    (signed(decision(bundle_digest=OTHER_BUNDLE)), f"for another bundle ({OTHER_BUNDLE[:12]}, "
                                                   f"this run deploys {BUNDLE[:12]})"),
    (signed(decision(plan_digest=OTHER_PLAN)), "for another plan"),
    (signed(decision(approver="mallory")), "approver 'mallory' is not in approval.approvers"),
    # Case and homoglyphs: another name, refused (a Cyrillic 'а' in 'plаtform-lead').
    (signed(decision(approver="Platform-Lead"), by="platform-lead"), "approver 'Platform-Lead' is not in "
                                                                     "approval.approvers"),
    (signed(decision(approver="pl\u0430tform-lead"), by="platform-lead"),
     "approver 'pl\u0430tform-lead' is not in approval.approvers"),
    (signed(decision(approver=TRIGGERED_BY)),
     f"{TRIGGERED_BY!r} triggered this run and cannot approve it (segregation of duties)"),
    (signed(decision(run_id="manual__other")), "for another run (manual__other)"),
    (signed(decision(decision="maybe")), "unknown decision 'maybe'"),
    (signed(decision(decided_at="2026-11-28T09:59:59+00:00")),
     f"older than the request (2026-11-28T09:59:59+00:00 < {REQUESTED})"),
    (signed(decision(decided_at="yesterday")), "malformed decided_at 'yesterday'"),
    (["not", "an", "object"], "malformed (not a JSON object)"),
    ({**signed(decision()), "signature": "%%%"}, "signature does not verify with platform-lead's public key"),
], ids=["unsigned", "another-persons-key", "another-approvers-key", "other-bundle", "other-plan",
        "approver-not-allowed", "case", "homoglyph", "self-approval", "other-run", "unknown-decision",
        "before-the-request", "bad-time", "not-an-object", "garbage-signature"])
def test_an_invalid_record_is_ignored_with_its_reason(store, record, why):
    put(store, record, "2026-11-28T10:05:00-bad")
    v = judge(store)
    assert v.state == "waiting" and v.decision is None
    assert v.ignored == [f"2026-11-28T10:05:00-bad.json: {why}"]


def test_a_record_altered_after_signing_no_longer_verifies(store):
    record = signed(decision(decision="reject", reason="no"))
    put(store, {**record, "decision": "approve"}, "2026-11-28T10:05:00-tampered")
    v = judge(store)
    assert v.state == "waiting" and "signature does not verify" in v.ignored[0]


def test_invalid_records_are_reported_and_any_valid_rejection_wins(store):
    put(store, decision(), "2026-11-28T10:01:00-unsigned")
    put(store, signed(decision(approver=TRIGGERED_BY)), "2026-11-28T10:02:00-self")
    put(store, signed(decision()), "2026-11-28T10:03:00-approve")
    put(store, signed(decision(decision="reject", reason="not today")), "2026-11-28T10:04:00-reject")
    v = judge(store)
    # The rejection came after an approval by the same approver, and still wins.
    assert v.state == "rejected" and v.decision["reason"] == "not today"
    assert [i.split(":", 3)[-1].strip() for i in v.ignored] == [
        "unsigned", f"{TRIGGERED_BY!r} triggered this run and cannot approve it (segregation of duties)"]


def test_an_author_of_the_bundles_commits_cannot_approve_it(store):
    """Runs nobody triggered (cron, asset events) too: the commit authors since the last prod rollout."""
    put(store, signed(decision()), "2026-11-28T10:05:00-author")
    v = judge(store, authors=("dev@example.com", "Platform-Lead@Example.com".lower()))
    assert v.state == "waiting" and "authored a commit in this bundle" in v.ignored[0]
    assert judge(store, authors=("dev@example.com",)).state == "approved"


def test_a_store_that_cannot_be_read_is_waited_past_not_a_crash(store):
    class Broken(MemoryStore):
        def get(self, key):
            if "decisions/" in key:
                raise ValueError("Expecting value: line 1 column 1 (char 0)")  # what json.loads raises
            return super().get(key)

    broken = Broken()
    broken.docs = store.docs
    put(broken, signed(decision()), "2026-11-28T10:05:00-garbage")
    v = judge(broken)
    assert v.state == "waiting" and v.ignored == ["2026-11-28T10:05:00-garbage.json: unreadable (ValueError)"]


def ui(**over) -> dict:
    """What prod.ui_approval returns: the authenticated Airflow user's answer, unsigned."""
    return {"run_id": RUN, "bundle_digest": BUNDLE, "plan_digest": PLAN, "approver": "platform-lead",
            "decision": "approve", "reason": "in the UI", "decided_at": "2026-11-28T10:06:00+00:00",
            "via": "airflow-ui", **over}


@pytest.mark.parametrize("answer, state, why", [
    (ui(), "approved", None),
    (ui(decision="reject"), "rejected", None),
    (ui(approver="mallory"), "waiting", "approver 'mallory' is not in approval.approvers"),
    (ui(approver=TRIGGERED_BY), "waiting", "triggered this run and cannot approve it"),
    (ui(bundle_digest=OTHER_BUNDLE), "waiting", "for another bundle"),
    (ui(plan_digest=OTHER_PLAN), "waiting", "for another plan"),
    (ui(via="cli"), "waiting", "malformed UI decision"),
])
def test_a_ui_decision_is_judged_by_the_same_rules(store, answer, state, why):
    # The task's unsigned audit copy in the store is never taken as a decision by itself.
    approval.record_audit(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, approver=answer["approver"],
                          approve=answer["decision"] == "approve", reason="", via="airflow-ui")
    v = judge(store, ui=answer)
    assert v.state == state
    assert "audit copy of a UI decision" in v.ignored[0]
    if why:
        assert why in v.ignored[1]


def test_a_ui_decision_by_an_author_does_not_count(store):
    v = judge(store, ui=ui(), authors=("platform-lead@example.com",))
    assert v.state == "waiting" and "authored a commit" in v.ignored[0]


def test_an_approval_of_one_bundle_never_releases_another(store):
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="ok", key=KEYS["platform-lead"])
    assert judge(store).state == "approved"
    swapped = judge(store, bundle=OTHER_BUNDLE)
    assert swapped.state == "waiting" and "for another bundle" in swapped.ignored[0]
    replanned = judge(store, plan=OTHER_PLAN)
    assert replanned.state == "waiting" and replanned.ignored[0].endswith("for another plan")


def test_decide_binds_to_the_pending_request_and_refuses_without_one():
    empty = MemoryStore()
    with pytest.raises(approval.ApprovalError, match="no approval request"):
        approval.decide(empty, run_id=RUN, approver="platform-lead", approve=True, reason="",
                        key=KEYS["platform-lead"])


def test_the_request_is_idempotent_and_names_the_exact_commands(store):
    again = approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="other words",
                             triggered_by=TRIGGERED_BY, approvers=NAMES)
    assert again["summary"] == "8 accounts: 8 to change"
    assert again["command"] == ("fleet approve manual__2026-11-28T10:00:00+00:00 --approver <your approver id> "
                                "--key ~/.ssh/id_ed25519 --reason '<what you checked>'")
    assert "--reject" in again["reject_command"]


def test_a_request_published_first_by_the_ui_task_gains_what_the_gate_knows(store):
    again = approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="x",
                             triggered_by=TRIGGERED_BY, approvers=NAMES, commit="c" * 40, fleet_repo="file:///fleet",
                             source_ref="main", targets=["app-prod-01"])
    assert again["commit"] == "c" * 40 and again["targets"] == ["app-prod-01"] and again["source_ref"] == "main"
    assert again["requested_at"] == REQUESTED  # the same request: earlier decisions stay valid
    assert store.get(approval.request_key(RUN)) == again


def test_settled_lists_a_run_until_a_decision_that_counts(store):
    """`fleet approvals` and the Fleet page: no keys there, every other rule applies."""
    req = store.get(approval.request_key(RUN))
    put(store, decision(), "1-unsigned")
    put(store, signed(decision(approver="mallory")), "2-mallory")
    put(store, signed(decision(bundle_digest=OTHER_BUNDLE)), "3-other-bundle")
    put(store, {"approve": True}, "4-malformed")
    assert not approval.settled(store, req)
    put(store, signed(decision()), "5-approved")
    assert approval.settled(store, req)


def test_a_ui_record_settles_the_request(store):
    approval.record_audit(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, approver="platform-lead",
                          approve=False, reason="no", via="airflow-ui")
    assert approval.settled(store, store.get(approval.request_key(RUN)))
