"""Repository push events, as a queue delivers them: which repository, branch and commit.

Two shapes: EventBridge's CodeCommit "CodeCommit Repository State Change" (``detail.repositoryName``,
``detail.referenceType`` / ``referenceName``, ``detail.commitId``), and a minimal GitHub push
(``repository.full_name`` or ``repository.name``, ``ref`` = ``refs/heads/<branch>``, ``after``). A
message may be the event itself or an SNS envelope around it (``Message`` holding the JSON).

Two places use it: the queue trigger's filter (``queue_filter``: what Amazon's SQS trigger matches
before it yields an event, so a push to another repository or branch starts nothing), and the Source
stage, which reads the pushes that started its run again with ``pushed`` and snapshots that commit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

ZERO = "0" * 40  # GitHub's "after" of a deleted branch

# The key the SQS trigger's "jsonpath-ext" filter computes from a message body, one per shape; a
# message passes when a key equals one of ``queue_filter``'s values. The expression is a constant and
# the repository and branch are only compared with it, so no configured value is ever parsed as a path.
# (jsonpath-ng 1.x calls `|` deprecated; it is the only way to join the two shapes in one expression.)
FILTER_EXPRESSION = (
    '($.source + " " + $."detail-type" + " " + $.detail.event + " " + $.detail.referenceType + " " '
    '+ $.detail.repositoryName + " " + $.detail.referenceName)'
    ' | ($.ref + " " + $.repository.full_name) | ($.ref + " " + $.repository.name)')
_CODECOMMIT_EVENTS = ("referenceCreated", "referenceUpdated")
_REPOSITORY = re.compile(r"[A-Za-z0-9_.-]{1,100}(/[A-Za-z0-9_.-]{1,100})?")
_BRANCH = re.compile(r"(?!-)(?!/)(?!.*\.\.)(?!.*//)[A-Za-z0-9_./-]{1,255}(?<!/)(?<!\.lock)")


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


def queue_filter(repository: str, branch: str, where: str = "push filter") -> tuple[str, list[str]]:
    """The SQS trigger's ``message_filtering_config`` and ``message_filtering_match_values``
    (``message_filtering="jsonpath-ext"``) that pass the pushes ``matches`` accepts, and nothing
    else but a GitHub branch deletion (its ``after`` cannot be told apart by a path; the Source
    stage refuses it). ``where`` in errors names the setting the values came from."""
    check_target(repository, branch, where)
    values = [f"refs/heads/{branch} {repository}"]  # GitHub: owner/name, or a bare name (any owner)
    if "/" not in repository:  # a CodeCommit name cannot hold a slash
        values += [f"aws.codecommit CodeCommit Repository State Change {event} branch {repository} {branch}"
                   for event in _CODECOMMIT_EVENTS]
    return FILTER_EXPRESSION, values


def check_target(repository: str, branch: str, where: str = "push filter") -> None:
    """Refuse a repository or branch name no push could carry (they come from the deployment's settings)."""
    if not isinstance(repository, str) or not _REPOSITORY.fullmatch(repository):
        raise PushEventError(f"{where}: repository: expected a CodeCommit name or a GitHub owner/name "
                             f"(letters, digits, '_', '.', '-'), got {repository!r}")
    if not isinstance(branch, str) or not _BRANCH.fullmatch(branch):
        raise PushEventError(f"{where}: branch: expected a git branch name (letters, digits, '_', '.', "
                             f"'/', '-'; not starting with '-' or '/', no '..'), got {branch!r}")


def pushed(bodies: Iterable[str | dict], repository: str, branch: str) -> Push:
    """The push a run must snapshot, from the bodies of the queue messages that started it (oldest
    first): the last one to the fleet repo's branch. A batch with none (only a deleted branch, or
    messages the queue filter should have kept out) is an error: nothing is deployed from it."""
    found: list[Push] = []
    seen = 0
    for body in bodies:
        seen += 1
        push = parse(body)
        if matches(push, repository, branch):
            found.append(push)
    if not found:
        raise PushEventError(f"the {seen} queue message(s) that started this run hold no push to branch "
                             f"{branch!r} of {repository!r} (a deleted branch, or another repository); "
                             f"nothing to snapshot")
    return found[-1]
