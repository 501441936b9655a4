"""Fixtures for the drift suite: a seeded organization, baseline stacks deployed by the pipeline's
own deploy code, and the Airflow metadata DB for the DAG runs."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BASELINE = (REPO / "include" / "templates" / "security-baseline.yaml").read_text()
MANAGEMENT = "123456789012"


@pytest.fixture
def ctx(seeded_fleet):
    return seeded_fleet


@pytest.fixture
def deploy(ctx):
    """deploy(names) -> {name: DeployResult}: the security baseline through a change set, as the
    pipeline deploys it (fleet.stacks.deploy)."""
    from fleet import stacks
    from fleet.org import read_org

    ids = {a.name: a.id for a in read_org(ctx, with_tags=False).accounts}

    def _deploy(names: list[str], region: str = "us-east-1") -> dict:
        out = {}
        for name in names:
            target = stacks.StackTarget(ids[name], name, region, "fleet-security-baseline", BASELINE,
                                        {"ManagementAccountId": MANAGEMENT})
            out[name] = stacks.deploy(ctx, target, "d" * 64)
            assert out[name].status == "created", out[name]
        return out

    return _deploy

