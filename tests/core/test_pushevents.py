"""Push events in the shapes a queue delivers (fleet.pushevents): CodeCommit via EventBridge, GitHub."""

from __future__ import annotations

import json

import pytest

from fleet.pushevents import Push, PushEventError, matches, parse

SHA = "a" * 40


def codecommit(event="referenceUpdated", ref_type="branch", branch="main", repo="fleet") -> dict:
    return {"version": "0", "source": "aws.codecommit", "detail-type": "CodeCommit Repository State Change",
            "account": "123456789012", "region": "us-east-1",
            "detail": {"event": event, "repositoryName": repo, "referenceType": ref_type,
                       "referenceName": branch, "referenceFullName": f"refs/heads/{branch}", "commitId": SHA}}


def github(ref="refs/heads/main", after=SHA, full_name="acme/fleet") -> dict:
    return {"ref": ref, "after": after, "repository": {"name": full_name.split("/")[-1], "full_name": full_name}}


def test_codecommit_and_github_pushes_give_repository_branch_and_commit():
    assert parse(codecommit()) == Push("fleet", "main", SHA, "codecommit")
    assert parse(json.dumps(github())) == Push("acme/fleet", "main", SHA, "github")
    sns = {"Type": "Notification", "Message": json.dumps(codecommit(event="referenceCreated"))}
    assert parse(sns) == Push("fleet", "main", SHA, "codecommit")


def test_what_is_not_a_branch_push_is_none():
    assert parse(codecommit(event="referenceDeleted")) is None
    assert parse(codecommit(ref_type="tag")) is None
    assert parse(github(ref="refs/tags/v1")) is None
    assert parse(github(after="0" * 40)) is None  # branch deleted
    assert parse({"source": "aws.s3"}) is None


def test_the_filter_takes_only_the_fleet_repo_and_branch():
    assert matches(parse(codecommit()), "fleet", "main")
    assert not matches(parse(codecommit(branch="dev")), "fleet", "main")
    assert not matches(parse(codecommit(repo="other")), "fleet", "main")
    assert matches(parse(github()), "acme/fleet", "main") and matches(parse(github()), "fleet", "main")
    assert not matches(parse(github(full_name="evil/fleet")), "acme/fleet", "main")
    assert not matches(None, "fleet", "main")


def test_a_body_that_is_not_json_is_a_clear_error():
    with pytest.raises(PushEventError, match="expected a JSON object"):
        parse("not json")


def test_the_pushed_commit_is_the_last_push_to_the_branch():
    from fleet.pushevents import pushed

    first, second = {**codecommit(), "detail": {**codecommit()["detail"], "commitId": "1" * 40}}, github()
    assert pushed([json.dumps(first), json.dumps(codecommit(repo="other")), second], "fleet", "main").commit == SHA
    assert pushed([first], "fleet", "main").commit == "1" * 40
    with pytest.raises(PushEventError, match="the 1 queue message\\(s\\) that started this run hold no push"):
        pushed([github(after="0" * 40)], "fleet", "main")


def test_the_queue_filter_values_name_the_repository_and_branch():
    from fleet.pushevents import queue_filter

    _, values = queue_filter("fleet", "release/2026")
    assert values == ["refs/heads/release/2026 fleet",
                      "aws.codecommit CodeCommit Repository State Change referenceCreated branch fleet release/2026",
                      "aws.codecommit CodeCommit Repository State Change referenceUpdated branch fleet release/2026"]
    assert queue_filter("acme/fleet", "main")[1] == ["refs/heads/main acme/fleet"]
    with pytest.raises(PushEventError, match="FLEET_PUSH_BRANCH: branch: expected a git branch name"):
        queue_filter("fleet", "main.lock", "FLEET_PUSH_BRANCH")
