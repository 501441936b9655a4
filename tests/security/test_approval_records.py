"""Low findings of issue 12 at the approval gate: a malformed decision file is ignored and said, never
a crash of the waiting run; a decision written before the run's request does not count."""

from __future__ import annotations

import json

from fleet import approval

KEY = b"k" * 32
RUN, BUNDLE, PLAN = "run-1", "b" * 64, "p" * 64


class RawStore:
    """The store as anyone with write access to it sees it: keys holding arbitrary bytes."""

    def __init__(self):
        self.raw: dict[str, bytes] = {}

    def put(self, key: str, doc: dict) -> None:
        self.raw[key] = json.dumps(doc).encode()

    def get(self, key: str):
        return json.loads(self.raw[key]) if key in self.raw else None

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.raw if k.startswith(prefix))


def evaluate(store):
    return approval.evaluate(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, key=KEY,
                             approvers=("alice",), triggered_by=None)


def test_a_malformed_decision_file_is_ignored_and_named():
    store = RawStore()
    approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="s", triggered_by=None,
                     approvers=("alice",))
    prefix = approval.decisions_prefix(RUN)
    store.raw[f"{prefix}0-garbage.json"] = b"{not json"
    store.raw[f"{prefix}1-list.json"] = b"[1, 2]"
    store.raw[f"{prefix}2-binary.json"] = b"\xff\xfe\x00"
    verdict = evaluate(store)
    assert verdict.state == "waiting"
    assert [i.split(":", 1)[0] for i in verdict.ignored] == ["0-garbage.json", "1-list.json", "2-binary.json"]
    assert all("malformed" in i for i in verdict.ignored)
    # and a valid decision next to them still counts
    approval.decide(store, run_id=RUN, approver="alice", approve=True, reason="ok", key=KEY)
    assert evaluate(store).state == "approved"


def test_a_decision_written_before_the_request_does_not_count():
    store = RawStore()
    early = approval.record_decision(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, approver="alice",
                                     approve=True, reason="pre-signed", key=KEY, via="cli")
    req = approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="s",
                           triggered_by=None, approvers=("alice",))
    # Timestamps are to the second: put the request visibly after the early decision.
    store.put(approval.request_key(RUN), {**req, "requested_at": "9999-01-01T00:00:00+00:00"})
    verdict = evaluate(store)
    assert verdict.state == "waiting", verdict
    assert any("before this run's request" in i for i in verdict.ignored) and early["decided_at"] < "9999"
