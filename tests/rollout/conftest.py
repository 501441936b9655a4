"""Rollout engine tests: real stacks in real (local) member accounts, two real bundles in S3."""

from __future__ import annotations

import pytest

from fleet import bundle as bundle_mod


@pytest.fixture
def fleet_ctx(fresh_fleet, monkeypatch, tmp_path):
    """A freshly seeded organization with the artifacts bucket. Fresh, not shared: the rollout
    deploys to the accounts the sample fleet.yaml names, and the tests assert which of them have
    the baseline stack and at which version."""
    monkeypatch.setattr(bundle_mod, "work_dir", lambda: tmp_path / "bundles")
    ctx = fresh_fleet
    ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
    return ctx
