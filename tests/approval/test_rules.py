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


def verdict(store, approvers, *, bundle: str = BUNDLE, plan: str | None = PLAN, triggered_by: str | None = "alice"):
    return approval.evaluate(store, run_id=RUN, bundle_digest=bundle, plan_digest=plan, approvers=approvers,
                             triggered_by=triggered_by)


def put(store, record: dict, name: str = "x") -> None:
    store.put(f"{approval.decisions_prefix(RUN)}{approval._now()}-{name}.json", record)


def record(**over) -> dict:
    return {"run_id": RUN, "bundle_digest": BUNDLE, "plan_digest": PLAN, "approver": "platform-lead",
            "decision": "approve", "reason": "ok", "decided_at": approval._now(), **over}


def test_a_signed_decision_by_an_allowed_approver_approves(store, approvers, sign_as):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="plan reviewed",
                    key=sign_as("platform-lead"))
    v = verdict(store, approvers)
    assert v.state == "approved" and v.ignored == []
    assert {"run_id", "bundle_digest", "plan_digest", "approver", "decision", "reason", "decided_at",
            "signature", "key"} <= set(v.decision)
    assert v.decision["plan_digest"] == PLAN and v.decision["via"] == "cli"


def test_unsigned_record_is_ignored(store, approvers, sign_as):
    ask(store)
    put(store, record())
    v = verdict(store, approvers)
    assert v.state == "waiting" and "unsigned" in v.ignored[0]


def test_record_signed_with_another_key_is_ignored(store, approvers, sign_as):
    ask(store)
    put(store, approval.sign(record(), sign_as("mallory")), "mallory")  # mallory signs as platform-lead
    put(store, approval.sign(record(), sign_as("security-lead")), "security")  # one approver as another
    v = verdict(store, approvers)
    assert v.state == "waiting" and len(v.ignored) == 2
    assert all("signature does not verify with platform-lead's public key" in why for why in v.ignored)


def test_record_altered_after_signing_is_ignored(store, approvers, sign_as):
    ask(store)
    signed = approval.sign(record(decision="reject"), sign_as("platform-lead"))
    put(store, {**signed, "decision": "approve"})
    v = verdict(store, approvers)
    assert v.state == "waiting" and "signature does not verify" in v.ignored[0]


def test_approve_then_swap_the_bundle_is_ignored(store, approvers, sign_as):
    """An approval of bundle B never releases bundle C, even for the same run id."""
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))
    ask(store, bundle=OTHER_BUNDLE)  # the run now wants to deploy other bytes
    v = verdict(store, approvers, bundle=OTHER_BUNDLE)
    assert v.state == "waiting" and "for another bundle" in v.ignored[0]


def test_a_decision_for_another_plan_is_ignored(store, approvers, sign_as):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))
    v = verdict(store, approvers, plan=OTHER_PLAN)
    assert v.state == "waiting" and "for another plan" in v.ignored[0]


def test_a_decision_for_another_run_is_ignored(store, approvers, sign_as):
    ask(store)
    put(store, approval.sign(record(run_id="manual__other"), sign_as("platform-lead")))
    v = verdict(store, approvers)
    assert v.state == "waiting" and "for another run" in v.ignored[0]


@pytest.mark.parametrize("name", ["Platform-lead", "pl\u0430tform-lead", "platform-lead "])
def test_a_name_that_only_looks_like_an_approver_is_ignored(store, approvers, sign_as, name):
    """Case, a Cyrillic homoglyph, trailing space: another name, even signed with the real key."""
    ask(store)
    put(store, approval.sign(record(approver=name), sign_as("platform-lead")))
    v = verdict(store, approvers)
    assert v.state == "waiting" and f"approver {name!r} is not in approval.approvers" in v.ignored[0]


def test_approver_outside_the_allow_list_is_ignored(store, approvers, sign_as):
    ask(store)
    approval.decide(store, run_id=RUN, approver="mallory", approve=True, reason="",
                    key=sign_as("mallory"))
    v = verdict(store, approvers)
    assert v.state == "waiting" and "'mallory' is not in approval.approvers" in v.ignored[0]


def test_the_triggering_user_cannot_approve_their_own_run(store, approvers, sign_as):
    ask(store)
    approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))
    v = verdict(store, approvers, triggered_by="platform-lead")
    assert v.state == "waiting" and "segregation of duties" in v.ignored[0]
    # ... and a second, independent approver then counts.
    approval.decide(store, run_id=RUN, approver="security-lead", approve=True, reason="",
                    key=sign_as("security-lead"))
    v = verdict(store, approvers, triggered_by="platform-lead")
    assert v.state == "approved" and v.decision["approver"] == "security-lead" and len(v.ignored) == 1


def test_reject_carries_its_reason(store, approvers, sign_as):
    ask(store)
    approval.decide(store, run_id=RUN, approver="security-lead", approve=False, reason="change freeze",
                    key=sign_as("security-lead"))
    v = verdict(store, approvers)
    assert v.state == "rejected" and v.reason.endswith(": change freeze")


def test_decide_without_request_is_refused(store, sign_as):
    with pytest.raises(approval.ApprovalError, match="no approval request"):
        approval.decide(store, run_id=RUN, approver="platform-lead", approve=True, reason="",
                    key=sign_as("platform-lead"))


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
