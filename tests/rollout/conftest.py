"""Rollout engine tests: real stacks in real (local) member accounts, two real bundles in S3."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import pipeline
from fleet.aws import AwsContext

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet_ctx(seeded_fleet, monkeypatch, tmp_path):
    monkeypatch.setattr(pipeline, "work_dir", lambda: tmp_path / "bundles")
    ctx = seeded_fleet
    ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
    return ctx


def make_bundle(ctx: AwsContext, tmp_path: Path, name: str, retention: str) -> pipeline.Bundle:
    """A copy of the sample fleet whose baseline differs only in one parameter default."""
    repo = tmp_path / name
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace('RetentionDays: "365"', f'RetentionDays: "{retention}"'))
    up = pipeline.snapshot_and_upload(ctx, repo)
    return pipeline.Bundle(up["bucket"], up["digest"], up["commit"])
