"""The fleet repo from a git URL: private clone per commit, refs resolved, credentials never shown,
and the git history scan that runs in the Source task's clone (README: "Fleet repo from git")."""

from __future__ import annotations

import os
import stat

import pytest

from fleet import gitsource
from fleet.gitsource import GitAuth, GitSourceError
from fleet.stages import build, source
from tests.support.gitrepo import commit, fleet_remote, git

AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"  # split so the repo's own secrets gate sees no key here


@pytest.fixture
def cache(tmp_path, monkeypatch):
    root = tmp_path / "git-cache"
    monkeypatch.setenv(gitsource.CACHE_ENV, str(root))
    return root


def test_a_git_url_is_cloned_once_per_commit_into_a_private_cache(tmp_path, cache):
    remote, url = fleet_remote(tmp_path / "remote")
    first = git(remote, "rev-parse", "HEAD")
    clone, commit_id = gitsource.clone(url, "main")
    assert commit_id == first and git(clone, "rev-parse", "HEAD") == first
    assert (clone / "fleet.yaml").is_file()
    assert stat.S_IMODE(cache.stat().st_mode) == 0o700
    assert gitsource.clone(url, "main")[0] == clone  # reused, not cloned again
    assert git(clone, "rev-list", "--count", "HEAD") == "1"  # full history, not shallow
    assert not (clone / ".git" / "shallow").exists()

    (remote / "README.txt").write_text("second\n")
    second = commit(remote, "second")
    git(remote, "tag", "v2")
    for ref in ("main", "v2", second, None):
        path, found = gitsource.clone(url, ref)
        assert found == second and path != clone and git(path, "rev-list", "--count", "HEAD") == "2"
    assert gitsource.clone(url, first) == (clone, first)  # an older commit by its id


def test_a_ref_the_remote_does_not_have_is_a_clear_error(tmp_path, cache):
    _, url = fleet_remote(tmp_path / "remote")
    with pytest.raises(GitSourceError, match=r"source_ref 'nosuch' is not a branch, tag or commit"):
        gitsource.clone(url, "nosuch")


def test_credentials_are_never_in_a_message_or_the_command_line(cache):
    token = "ghp_" + "x" * 20
    url = "https://user:inline-pass@127.0.0.1:9/fleet.git"  # nothing listens on port 9
    with pytest.raises(GitSourceError) as err:
        gitsource.clone(url, "main", GitAuth(username="bot", token=token))
    assert "inline-pass" not in str(err.value) and token not in str(err.value)
    assert "https://user:***@127.0.0.1:9/fleet.git" in str(err.value)
    assert token not in repr(GitAuth(token=token, private_key="KEY")) and "KEY" not in repr(GitAuth(private_key="KEY"))
    with gitsource._auth_env(GitAuth(username="bot", token=token)) as env:
        assert env["GIT_CONFIG_KEY_0"] == "http.extraHeader"
        assert env["GIT_CONFIG_VALUE_0"].startswith("Authorization: Basic ")
        assert token not in env["GIT_CONFIG_VALUE_0"]  # base64 of user:token


def test_a_cache_others_can_read_is_refused(tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    os.chmod(shared, 0o755)
    monkeypatch.setenv(gitsource.CACHE_ENV, str(shared))
    with pytest.raises(GitSourceError, match="must be a folder owned by this user with mode 0700"):
        gitsource.cache_root()


def test_url_detection_keeps_plain_folders_for_local_use(tmp_path):
    for url in ("https://github.com/o/r.git", "ssh://git@host/r.git", "git@github.com:o/r.git", "file:///tmp/r"):
        assert gitsource.is_git_url(url), url
    assert not gitsource.is_git_url("/opt/airflow/include") and not gitsource.is_git_url("include")
    assert source.local_repo(tmp_path, "") == (tmp_path, None)


def test_history_scan_runs_in_the_clone_and_cannot_be_skipped_silently(tmp_path, cache):
    remote, url = fleet_remote(tmp_path / "remote")
    (remote / "creds.txt").write_text(f'aws_access_key_id = "{AWS_KEY}"\n')
    leaked = commit(remote, "oops")
    (remote / "creds.txt").unlink()
    commit(remote, "remove it")
    clone, _ = source.local_repo(url, "main")
    found, plan = build.history_findings(clone)
    assert [f["commit"] for f in found] == [leaked] and found[0]["severity"] == "error"
    assert plan and plan["commits"] == [leaked]

    missing, _ = build.history_findings(tmp_path / "not-on-this-worker")
    assert [(f["rule"], f["severity"]) for f in missing] == [("secrets:history-unavailable", "error")]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "fleet.yaml").write_text("x: 1\n")
    assert [(f["rule"], f["severity"]) for f in build.history_findings(plain)[0]] == [("secrets:no-history",
                                                                                        "warning")]
