"""Fixtures for the drift suite: baseline stacks deployed by the pipeline's own deploy code, into
the sample organization's accounts (the fleet sweep) or into a fresh account of their own (the
local drift API)."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "include" / "templates" / "security-baseline.yaml").read_text()
MANAGEMENT = "123456789012"


@pytest.fixture
def ctx(fresh_fleet):
    """A freshly seeded organization. Fresh, not shared: the sweep goes over every account of the
    sample fleet.yaml and counts the accounts with and without a baseline stack."""
    return fresh_fleet


def _deploy_baseline(ctx, account_id: str, name: str, region: str = "us-east-1"):
    from fleet import stacks

    target = stacks.StackTarget(account_id, name, region, "fleet-security-baseline", BASELINE,
                                {"ManagementAccountId": MANAGEMENT})
    result = stacks.deploy(ctx, target, "d" * 64)
    assert result.status == "created", result
    return result


@pytest.fixture
def deploy(ctx):
    """deploy(names) -> {name: DeployResult}: the security baseline through a change set, as the
    pipeline deploys it (fleet.stacks.deploy), into the named accounts of the sample fleet."""
    from fleet.org import read_org

    ids = {a.name: a.id for a in read_org(ctx, with_tags=False).accounts}

    def _deploy(names: list[str], region: str = "us-east-1") -> dict:
        return {name: _deploy_baseline(ctx, ids[name], name, region) for name in names}

    return _deploy


@pytest.fixture
def baseline(seeded_fleet, fresh_account):
    """The security baseline deployed into a fresh member account of the shared organization, as
    the pipeline deploys it; returns its DeployResult."""
    account_id, name = fresh_account(ou="Beta")
    return _deploy_baseline(seeded_fleet, account_id, name)
