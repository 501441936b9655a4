"""Which decision records count, in either store (S3 and DynamoDB): each rejection reason."""

from __future__ import annotations

import pytest

from fleet import approval

RUN = "manual__2026-11-28T10:00:00+00:00"
BUNDLE, OTHER_BUNDLE = "b" * 64, "c" * 64
PLAN, OTHER_PLAN = "p" * 64, "q" * 64
APPROVERS = ("platform-lead", "security-lead")


def ask(store, bundle: str = BUNDLE, plan: str | None = PLAN) -> dict:
    return approval.request(store, run_id=RUN, bundle_digest=bundle, plan_digest=plan, summary="8 accounts: 8 change",
                            triggered_by="alice", approvers=APPROVERS)


def verdict(store, key: bytes, *, bundle: str = BUNDLE, plan: str | None = PLAN, triggered_by: str | None = "alice"):
    return approval.evaluate(store, run_id=RUN, bundle_digest=bundle, plan_digest=plan, key=key,
                             approvers=APPROVERS, triggered_by=triggered_by)


def put(store, record: dict, name: str = "x") -> None:
    store.put(f"{approval.decisions_prefix(RUN)}{approval._now()}-{name}.json", record)


def record(**over) -> dict:
    return {"run_id": RUN, "bundle_digest": BUNDLE, "plan_digest": PLAN, "approver": "platform-lead",
            "decision": "approve", "reason": "ok", "decided_at": approval._now(), **over}


def test_a_signed_decision_by_an_allowed_approver_approves(store, signing_key):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="plan reviewed", key=signing_key)
    v = verdict(store, signing_key)
    assert v.state == "approved" and v.ignored == []
    assert {"run_id", "bundle_digest", "plan_digest", "approver", "decision", "reason", "decided_at",
            "signature"} <= set(v.decision)
    assert v.decision["plan_digest"] == PLAN and v.decision["via"] == "cli"


def test_unsigned_record_is_ignored(store, signing_key):
    ask(store)
    put(store, record())
    v = verdict(store, signing_key)
    assert v.state == "waiting" and "unsigned" in v.ignored[0]


def test_record_signed_with_another_key_is_ignored(store, signing_key):
    ask(store)
    put(store, approval.sign(record(), b"not-the-pipeline-key-0123456789"))
    v = verdict(store, signing_key)
    assert v.state == "waiting" and "signature does not verify" in v.ignored[0]


def test_record_altered_after_signing_is_ignored(store, signing_key):
    ask(store)
    signed = approval.sign(record(decision="reject"), signing_key)
    put(store, {**signed, "decision": "approve"})
    v = verdict(store, signing_key)
    assert v.state == "waiting" and "signature does not verify" in v.ignored[0]


def test_approve_then_swap_the_bundle_is_ignored(store, signing_key):
    """An approval of bundle B never releases bundle C, even for the same run id."""
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="", key=signing_key)
    ask(store, bundle=OTHER_BUNDLE)  # the run now wants to deploy other bytes
    v = verdict(store, signing_key, bundle=OTHER_BUNDLE)
    assert v.state == "waiting" and "for another bundle" in v.ignored[0]


def test_a_decision_for_another_plan_is_ignored(store, signing_key):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="", key=signing_key)
    v = verdict(store, signing_key, plan=OTHER_PLAN)
    assert v.state == "waiting" and "for another plan" in v.ignored[0]


def test_a_decision_for_another_run_is_ignored(store, signing_key):
    ask(store)
    put(store, approval.sign(record(run_id="manual__other"), signing_key))
    v = verdict(store, signing_key)
    assert v.state == "waiting" and "for another run" in v.ignored[0]


def test_approver_outside_the_allow_list_is_ignored(store, signing_key):
    ask(store)
    approval.decide(store, run_id=RUN, approver="mallory", approve=True, reason="", key=signing_key)
    v = verdict(store, signing_key)
    assert v.state == "waiting" and "'mallory' is not in approval.approvers" in v.ignored[0]


def test_the_triggering_user_cannot_approve_their_own_run(store, signing_key):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="", key=signing_key)
    v = verdict(store, signing_key, triggered_by="platform-lead")
    assert v.state == "waiting" and "segregation of duties" in v.ignored[0]
    # ... and a second, independent approver then counts.
    approval.decide(store, run_id=RUN, approver="security-lead", approve=True, reason="", key=signing_key)
    v = verdict(store, signing_key, triggered_by="platform-lead")
    assert v.state == "approved" and v.decision["approver"] == "security-lead" and len(v.ignored) == 1


def test_reject_carries_its_reason(store, signing_key):
    ask(store)
    approval.decide(store, run_id=RUN, approver="security-lead", approve=False, reason="change freeze",
                    key=signing_key)
    v = verdict(store, signing_key)
    assert v.state == "rejected" and v.reason.endswith(": change freeze")


def test_decide_without_request_is_refused(store, signing_key):
    with pytest.raises(approval.ApprovalError, match="no approval request"):
        approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="", key=signing_key)


def test_request_is_idempotent_and_names_the_exact_command(store):
    first = ask(store)
    assert ask(store) == first
    assert first["command"].startswith(f"fleet approve {RUN} --approver ")
    assert "--reject" in first["reject_command"]
    subject, body = approval.request_message(first, deadline="2026-11-29T10:00:00+00:00")
    assert len(subject) < 100 and subject.isascii()
    for text in (RUN, BUNDLE, PLAN, "8 accounts: 8 change", first["command"], first["reject_command"]):
        assert text in body
    listed = store.list("approvals/")
    assert listed == [approval.request_key(RUN)]
