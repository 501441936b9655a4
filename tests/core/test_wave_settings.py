"""Per-wave settings follow the configured wave a planned wave came from, also on small fleets.

plan_waves drops a configured wave that adds no account (25% of two accounts is the one the
count wave already took), so the planned waves and the configured waves no longer line up by
index; a wave's failure_tolerance and max_concurrent must still be its own.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fleet import bundle as bundle_mod
from fleet.stages import prod, source

REPO = Path(__file__).resolve().parents[2]
BUCKET = "fleet-artifacts-123456789012-us-east-1"


@pytest.fixture
def ctx(fresh_fleet, monkeypatch, tmp_path):
    """A freshly seeded organization: the rollout deploys to app-prod-01 and app-prod-02 by name."""
    monkeypatch.setattr(bundle_mod, "work_dir", lambda: tmp_path / "bundles")
    fresh_fleet.client("s3").create_bucket(Bucket=BUCKET)
    return fresh_fleet


def test_the_last_wave_keeps_its_own_tolerance_when_an_earlier_wave_is_empty(ctx, tmp_path):
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    text = cfg.read_text()
    waves = "waves: [{count: 1}, {percent: 25}, {percent: 100}]"
    assert waves in text
    cfg.write_text(text.replace(waves, "waves: [{count: 1}, {percent: 25, failure_tolerance: 0}, "
                                       "{percent: 100, failure_tolerance: 1, max_concurrent: 3}]"))
    bundle = source.snapshot_and_upload(ctx, repo).open(ctx)

    # A real CloudFormation failure in app-prod-02: the baseline's role name is already taken there.
    ids = {a["Name"]: a["Id"] for a in ctx.client("organizations").list_accounts()["Accounts"]}
    ctx.client("iam", ids["app-prod-02"]).create_role(RoleName="fleet-audit", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))

    # Two accounts: wave 1 (count 1) takes app-prod-01, the 25% wave adds nobody, the 100% wave takes
    # app-prod-02 and tolerates one failed account.
    result = prod.run_rollout(ctx, bundle, run_id="small-fleet", only=["app-prod-01", "app-prod-02"],
                              log=lambda *_: None)
    assert [w["results"][0]["account_name"] for w in result["waves"]] == ["app-prod-01", "app-prod-02"]
    assert result["waves"][1]["failed_accounts"] == ["app-prod-02"]
    assert result["waves"][1]["tolerance"] == 1, "the 100% wave ran with the empty 25% wave's tolerance"
    assert not result["halted"]
