"""Repository push events, as a queue delivers them: which repository, branch and commit.

Two shapes: EventBridge's CodeCommit "CodeCommit Repository State Change" (``detail.repositoryName``,
``detail.referenceType`` / ``referenceName``, ``detail.commitId``), and a minimal GitHub push
(``repository.full_name`` or ``repository.name``, ``ref`` = ``refs/heads/<branch>``, ``after``). A
message may be the event itself or an SNS envelope around it (``Message`` holding the JSON).

Not wired to a DAG yet: the AssetWatcher that would use it is open work (README: "Start on push").
"""

from __future__ import annotations

import json
from dataclasses import dataclass

ZERO = "0" * 40  # GitHub's "after" of a deleted branch


@dataclass(frozen=True)
class Push:
    repository: str
    branch: str
    commit: str
    source: str  # codecommit | github


class PushEventError(ValueError):
    pass


def parse(body: str | dict) -> Push | None:
    """The push in a queue message, None for a message that is no push (another event, a branch
    deleted, a tag); a body that is not JSON is an error naming what was expected."""
    doc = body
    if isinstance(body, str):
        try:
            doc = json.loads(body)
        except ValueError as exc:
            raise PushEventError(f"push event: expected a JSON object, got {body[:80]!r}") from exc
    if not isinstance(doc, dict):
        raise PushEventError(f"push event: expected a JSON object, got {type(doc).__name__}")
    if isinstance(doc.get("Message"), str) and doc.get("Type") == "Notification":  # SNS envelope
        return parse(doc["Message"])
    if doc.get("source") == "aws.codecommit":
        d = doc.get("detail") or {}
        if doc.get("detail-type") != "CodeCommit Repository State Change" or d.get("referenceType") != "branch" \
                or d.get("event") == "referenceDeleted" or not d.get("commitId"):
            return None
        return Push(d.get("repositoryName", ""), d.get("referenceName", ""), d["commitId"], "codecommit")
    ref, after, repo = doc.get("ref"), doc.get("after"), doc.get("repository")
    if isinstance(ref, str) and isinstance(after, str) and isinstance(repo, dict):
        if not ref.startswith("refs/heads/") or after == ZERO:
            return None
        return Push(repo.get("full_name") or repo.get("name") or "", ref.removeprefix("refs/heads/"), after, "github")
    return None


def matches(push: Push | None, repository: str, branch: str) -> bool:
    """Is this push to the fleet repo's branch? ``repository``: the CodeCommit name or GitHub
    ``owner/name`` (a bare name matches a GitHub full name's last part too)."""
    if push is None or push.branch != branch:
        return False
    return push.repository == repository or (push.source == "github" and "/" not in repository
                                             and push.repository.rsplit("/", 1)[-1] == repository)
