"""Service Catalog lifecycle at the core level: a real local AWS, seeded with the sample fleet,
driven through ``fleet.stages.catalog`` without a scheduler (fast)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from fleet import bundle, source
from fleet.bundle import OpenBundle
from fleet.stages import source as source_stage
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.config import load_config

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def aws(seeded_fleet):
    """A freshly seeded organization; returns an AwsContext on the management account."""
    shutil.rmtree(bundle.work_dir(), ignore_errors=True)
    return seeded_fleet


def fleet_repo(tmp_path: Path, name: str = "fleet-repo") -> Path:
    """A copy of the sample fleet repository in its own git repo (so bundles carry a commit)."""
    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
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


def org(ctx: AwsContext):
    return read_org(ctx, with_tags=False)
