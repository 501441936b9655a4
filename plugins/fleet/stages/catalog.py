"""Catalog stage: publish this bundle's product versions, then launch one as an end user."""

from __future__ import annotations

from collections.abc import Callable

from fleet import catalog, catalog_smoke
from fleet.aws import AwsContext
from fleet.bundle import OpenBundle
from fleet.org import read_org


def publish(ctx: AwsContext, bundle: OpenBundle) -> dict:
    return catalog.publish(ctx, bundle, read_org(ctx, with_tags=False))


def smoke_test(ctx: AwsContext, bundle: OpenBundle, published: dict, *, log: Callable[[str], None] = print) -> dict:
    """Launch each published product in the smoke-test account as an end user, check it, terminate it."""
    if bundle.config.catalog.smoke_test is None:
        return {"skipped": "no catalog.smoke_test in the config", "ok": True, "results": []}
    return catalog_smoke.smoke_test(ctx, bundle.config, read_org(ctx, with_tags=False), published, log=log)
