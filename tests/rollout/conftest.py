"""Rollout engine tests: real stacks in real (local) member accounts, two real bundles in S3."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import pipeline
from fleet.aws import AwsContext
from localaws.server import LocalAws

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def aws():
    with LocalAws() as server:
        yield server


@pytest.fixture
def fleet_ctx(aws, monkeypatch, tmp_path):
    aws.reset()
    aws.seed(REPO / "include" / "fleet.yaml")
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws.endpoint_url)
    monkeypatch.setattr(pipeline, "work_dir", lambda: tmp_path / "bundles")
    ctx = AwsContext.from_environment("us-east-1")
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
