"""Rollout engine tests: real stacks in real (local) member accounts, two real bundles in S3."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import bundle as bundle_mod
from fleet.bundle import OpenBundle
from fleet.stages import source as source_stage
from fleet.aws import AwsContext

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet_ctx(seeded_fleet, monkeypatch, tmp_path):
    monkeypatch.setattr(bundle_mod, "work_dir", lambda: tmp_path / "bundles")
    ctx = seeded_fleet
    ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
    return ctx


def make_bundle(ctx: AwsContext, tmp_path: Path, name: str, retention: str) -> OpenBundle:
    """A copy of the sample fleet whose baseline differs only in one parameter default."""
    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace('RetentionDays: "365"', f'RetentionDays: "{retention}"'))
    return source_stage.snapshot_and_upload(ctx, repo).open(ctx)
