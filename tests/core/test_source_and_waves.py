"""Snapshots are content-addressed and deterministic; waves cover every account exactly once."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleet import report, rollout, source
from fleet.config import Wave

REPO = Path(__file__).resolve().parents[2]


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(cwd), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def test_same_content_same_digest_and_byte_identical_bundle(repo, tmp_path):
    other = tmp_path / "copy"
    shutil.copytree(repo, other)
    a, b = source.snapshot(repo), source.snapshot(other)
    assert a.digest == b.digest and a.files == b.files
    assert source.bundle_bytes(a) == source.bundle_bytes(b)


def test_one_changed_byte_changes_the_digest(repo):
    before = source.snapshot(repo).digest
    template = repo / "templates" / "security-baseline.yaml"
    template.write_bytes(template.read_bytes().replace(b"365", b"366", 1))
    assert source.snapshot(repo).digest != before


def test_in_a_git_repo_only_tracked_and_unignored_files_count_and_the_commit_is_recorded(repo):
    git(repo, "init", "-q", "-b", "main")
    (repo / ".gitignore").write_text("*.log\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    (repo / "debug.log").write_text("noise")
    snap = source.snapshot(repo)
    assert "debug.log" not in snap.files and ".gitignore" in snap.files
    assert snap.commit == git(repo, "rev-parse", "HEAD") and not snap.dirty


def test_source_ref_snapshots_another_commit(repo):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    first = git(repo, "rev-parse", "HEAD")
    old = source.snapshot(repo)
    (repo / "templates" / "extra.yaml").write_text("Resources: {}\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "two")
    assert "templates/extra.yaml" in source.snapshot(repo).files
    at_first = source.snapshot(repo, ref=first)
    assert at_first.commit == first and at_first.digest == old.digest
    with pytest.raises(source.SourceError, match="not a commit, branch or tag"):
        source.snapshot(repo, ref="no-such-branch")


def test_source_ref_works_for_a_fleet_repo_in_a_sub_folder_of_its_git_repository(tmp_path):
    top = tmp_path / "checkout"
    shutil.copytree(REPO / "include", top / "include")
    (top / "README.md").write_text("not part of the fleet repo\n")
    git(top, "init", "-q", "-b", "main")
    git(top, "add", "-A")
    git(top, "commit", "-qm", "one")
    working = source.snapshot(top / "include")
    at_head = source.snapshot(top / "include", ref="HEAD")
    assert at_head.commit == git(top, "rev-parse", "HEAD")
    assert at_head.files == working.files and "README.md" not in at_head.files


def test_a_git_failure_carries_gits_own_message(repo, monkeypatch):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "one")
    real_run = subprocess.run

    def broken_archive(cmd, *args, **kwargs):
        if "archive" in cmd:
            cmd = [*cmd[:cmd.index("archive") + 1], "--format=nosuchformat", *cmd[cmd.index("archive") + 2:]]
        return real_run(cmd, *args, **kwargs)

    monkeypatch.setattr(source.subprocess, "run", broken_archive)
    monkeypatch.setattr(source.tempfile, "gettempdir", lambda: str(repo.parent / "tmp"))
    with pytest.raises(source.SourceError, match=r"git archive .* exited 128: fatal: Unknown archive format"):
        source.snapshot(repo, ref="HEAD")


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(source.SourceError, match="does not exist"):
        source.snapshot(tmp_path / "nowhere")


@pytest.mark.parametrize("n, waves, sizes", [
    (8, [Wave(count=1), Wave(percent=25), Wave(percent=100)], [1, 1, 6]),
    (1000, [Wave(count=1), Wave(percent=25), Wave(percent=100)], [1, 249, 750]),
    (2, [Wave(count=1), Wave(percent=25), Wave(percent=100)], [1, 1]),
    (1, [Wave(count=5), Wave(percent=100)], [1]),
    (10, [Wave(percent=10), Wave(percent=50), Wave(percent=100)], [1, 4, 5]),
    (0, [Wave(percent=100)], []),
])
def test_waves_are_cumulative_and_cover_every_account_once(n, waves, sizes):
    accounts = [f"a{i}" for i in range(n)]
    planned = rollout.plan_waves(accounts, waves)
    assert [len(w) for w in planned] == sizes
    assert [a for w in planned for a in w] == accounts


def test_run_waves_halts_past_the_tolerance_and_names_untouched_accounts():
    from fleet.stacks import DeployResult, StackTarget

    targets = [[StackTarget(f"{i:012d}", f"acct-{i}", "us-east-1", "s", "") for i in ids]
               for ids in ([1], [2, 3], [4, 5])]

    def deploy(ctx, t, digest):
        status = "failed" if t.account_name in {"acct-2", "acct-3"} else "created"
        return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, status)

    halted = rollout.run_waves(None, targets, "d", max_concurrent=2, failure_tolerance=1, deploy=deploy)
    assert halted.halted and len(halted.waves) == 2 and halted.not_started == ["acct-4", "acct-5"]
    tolerant = rollout.run_waves(None, targets, "d", max_concurrent=2, failure_tolerance=[0, 2, 0], deploy=deploy)
    assert not tolerant.halted and len(tolerant.waves) == 3


def test_report_text_and_html_name_every_stage_and_account():
    doc = report.build("run-1", {"digest": "d" * 64, "commit": "c" * 40, "bucket": "b"}, {
        "beta": {"status": "success", "summary": "1 stacks", "accounts": [
            {"account": "beta-test", "account_id": "1", "region": "us-east-1", "status": "created", "detail": ""}]},
        "prod": {"status": "failed", "summary": "HALTED", "accounts": [
            {"account": "<app>", "account_id": "2", "region": "us-east-1", "status": "failed", "detail": "x"}]}})
    text = report.to_text(doc)
    assert "beta       success" in text and "prod       failed" in text and "beta-test" in text
    html = report.to_html(doc)
    assert "&lt;app&gt;" in html and "<app>" not in html


@pytest.mark.parametrize("waves", [
    [Wave(count=1), Wave(percent=25), Wave(percent=100)],
    [Wave(percent=10), Wave(percent=50), Wave(percent=100)],
    [Wave(count=3), Wave(count=2), Wave(percent=100)],
    [Wave(percent=100)],
], ids=["canary-25-100", "10-50-100", "3-then-2-then-rest", "all-at-once"])
def test_every_fleet_size_gets_every_account_once_with_cumulative_coverage(waves):
    for n in range(0, 60):
        accounts = [f"a{i}" for i in range(n)]
        planned = rollout.plan_waves(accounts, waves)
        assert [a for w in planned for a in w] == accounts, n
        assert all(planned), f"{n}: an empty wave"
        covered, bound = 0, 0
        sizes = iter(len(w) for w in planned)
        for wave in waves:  # each configured wave reaches at least its cumulative share
            bound = min(n, bound + wave.count) if wave.count is not None else max(bound, -(-n * wave.percent // 100))
            while covered < bound:
                covered += next(sizes)
            assert covered == bound, (n, wave)


def test_run_waves_counts_failures_per_account_and_bounds_concurrency():
    import threading
    import time

    from fleet.stacks import DeployResult, StackTarget

    regions = ("us-east-1", "eu-west-1")
    waves = [[StackTarget(f"{i:012d}", f"acct-{i}", r, "s", "") for i in ids for r in regions]
             for ids in ([1], [2, 3, 4, 5], [6])]
    running, peak, lock = 0, 0, threading.Lock()

    def deploy(ctx, t, digest):
        nonlocal running, peak
        with lock:
            running += 1
            peak = max(peak, running)
        time.sleep(0.01)
        with lock:
            running -= 1
        status = "failed" if t.account_name == "acct-3" else "created"  # both regions of one account
        return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, status)

    seen = []
    result = rollout.run_waves(None, waves, "d", max_concurrent=[1, 3, 1], failure_tolerance=1, deploy=deploy,
                               on_wave=seen.append)
    assert not result.halted and [w.index for w in seen] == [0, 1, 2]
    assert result.waves[1].failures == 1 and result.waves[1].failed_accounts == ["acct-3"]
    assert peak <= 3
    # Results come back in target order, whatever order the threads finished in.
    assert [(r.account_name, r.region) for r in result.waves[1].results] == [
        (t.account_name, t.region) for t in waves[1]]
    strict = rollout.run_waves(None, waves, "d", max_concurrent=2, failure_tolerance=0, deploy=deploy)
    assert strict.halted and len(strict.waves) == 2 and strict.not_started == ["acct-6"]
    assert strict.to_dict()["waves"][1]["failed_accounts"] == ["acct-3"]


def test_bundle_ignores_file_times_modes_and_creation_order(repo, tmp_path):
    import os

    other = tmp_path / "rebuilt"
    files = sorted((p for p in repo.rglob("*") if p.is_file()), reverse=True)  # written in another order
    for n, src in enumerate(files):
        dst = other / src.relative_to(repo)
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_bytes(src.read_bytes())
        os.utime(dst, (1_000_000 + n, 1_000_000 + n))
        dst.chmod(0o600)
    a, b = source.snapshot(repo), source.snapshot(other)
    assert a.digest == b.digest
    assert source.bundle_bytes(a) == source.bundle_bytes(b)
    assert source.bundle_bytes(a) == source.bundle_bytes(source.snapshot(repo))  # and again, the same bytes


def test_each_live_account_carries_its_own_tags(seeded_fleet):
    # The tags are read a few accounts at once (fleet.org.TAG_READERS): each must land on its account.
    from fleet.config import load_config
    from fleet.org import read_org

    from tests.support import REPO

    declared = {a.name: {k: str(v) for k, v in a.tags.items()} for a in load_config(REPO / "include" / "fleet.yaml").accounts}
    live = {a.name: a.tags for a in read_org(seeded_fleet).accounts if a.name in declared}
    assert live == declared
