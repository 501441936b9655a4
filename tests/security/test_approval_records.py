"""Low findings of issue 12 at the approval gate: a malformed decision file is ignored and said, never
a crash of the waiting run. (A decision older than the run's request: tests/core/test_approval.py.)"""

from __future__ import annotations

import json

from fleet import approval

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


def evaluate(store, alice: dict):
    return approval.evaluate(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN,
                             approvers=(alice["identity"],), triggered_by=None)


def test_a_malformed_decision_file_is_ignored_and_named(tmp_path):
    from fleet import sshkeys
    from tests.support.approval import make_keys

    alice = make_keys(tmp_path, ["alice"])["alice"]
    store = RawStore()
    approval.request(store, run_id=RUN, bundle_digest=BUNDLE, plan_digest=PLAN, summary="s", triggered_by=None,
                     approvers=("alice",))
    prefix = approval.decisions_prefix(RUN)
    store.raw[f"{prefix}0-garbage.json"] = b"{not json"
    store.raw[f"{prefix}1-list.json"] = b"[1, 2]"
    store.raw[f"{prefix}2-binary.json"] = b"\xff\xfe\x00"
    verdict = evaluate(store, alice)
    assert verdict.state == "waiting"
    assert [i.split(":", 1)[0] for i in verdict.ignored] == ["0-garbage.json", "1-list.json", "2-binary.json"]
    assert all("malformed" in i or "unreadable" in i for i in verdict.ignored), verdict.ignored
    # and a valid decision next to them still counts
    approval.decide(store, run_id=RUN, approver="alice", approve=True, reason="ok",
                    key=sshkeys.load_private_key(alice["path"]))
    assert evaluate(store, alice).state == "approved"
