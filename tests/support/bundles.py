"""Copies of the sample fleet repository, and bundles made from them the way the source stage
makes them (snapshot, upload to the artifacts bucket)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from fleet import source
from fleet.bundle import OpenBundle
from fleet.stages import source as source_stage
from fleet.aws import AwsContext
from fleet.config import load_config
from fleet.org import read_org

from tests.support import REPO


def fleet_repo(tmp_path: Path, name: str = "fleet-repo") -> Path:
    """A copy of the sample fleet repository in its own git repo (so bundles carry a commit), its
    approvers' public keys those of the test's own key pairs (tests.support.approval)."""
    from tests.support.approval import render_keys

    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
    render_keys(repo)
    git(repo, "init", "-q", "-b", "main")
    commit(repo, "fleet")
    return repo


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)


def snapshot(ctx: AwsContext, repo: Path) -> OpenBundle:
    """Source stage: artifacts bucket, then the bundle uploaded; returns it opened."""
    fleet = load_config(repo / "fleet.yaml")
    bucket = source.artifacts_bucket(fleet.organization.management_account, ctx.region)
    s3 = ctx.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    return source_stage.snapshot_and_upload(ctx, repo).open(ctx)


def make_bundle(ctx: AwsContext, tmp_path: Path, name: str, retention: str) -> OpenBundle:
    """A copy of the sample fleet whose baseline differs only in one parameter default."""
    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace('RetentionDays: "365"', f'RetentionDays: "{retention}"'))
    return source_stage.snapshot_and_upload(ctx, repo).open(ctx)


def org(ctx: AwsContext):
    return read_org(ctx, with_tags=False)


class Body:
    """An S3 GetObject body as the fake S3 clients of the bundle tests hand it out."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data
