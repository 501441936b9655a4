"""Service Catalog lifecycle at the core level: a real local AWS, seeded with the sample fleet,
driven through ``fleet.stages.catalog`` without a scheduler (fast)."""

from __future__ import annotations

import shutil

import pytest

from fleet import bundle


@pytest.fixture
def aws(fresh_fleet):
    """A freshly seeded organization; returns an AwsContext on the management account. Fresh, not
    shared: the catalog lives in the management account under the sample config's names (portfolio,
    products), and the tests count its versions, shares and tag options."""
    shutil.rmtree(bundle.work_dir(), ignore_errors=True)
    return fresh_fleet
