"""Source stage: check the config and the account, then snapshot the fleet repository into a bundle."""

from __future__ import annotations

from pathlib import Path

from fleet import source
from fleet.aws import AwsContext
from fleet.bundle import CONFIG_NAME, Bundle
from fleet.config import FleetConfig, load_config


def read_config(repo: Path) -> FleetConfig:
    """The repository's validated config (ConfigError names file, key and line)."""
    return load_config(Path(repo) / CONFIG_NAME)


def preflight(ctx: AwsContext, config: FleetConfig, targets: list[str]) -> dict:
    """Refuse credentials of another account; return what the later tasks are configured with."""
    org = config.organization
    ctx.require_management_account(org.management_account)
    return {"region": org.home_region, "pipeline_role": org.pipeline_role, "targets": list(targets),
            "bucket": source.artifacts_bucket(org.management_account, org.home_region),
            "approvers": list(config.approval.approvers), "timeout_hours": config.approval.timeout_hours,
            "bake_minutes": config.environments.bake_minutes}


def snapshot_and_upload(ctx: AwsContext, repo: Path, ref: str | None = None) -> Bundle:
    """Snapshot ``repo`` (at ``ref``), refuse a bad config before anything is uploaded, upload the bundle."""
    snap = source.snapshot(repo, ref=ref)
    fleet = load_config(snap.root / CONFIG_NAME)
    ctx.require_management_account(fleet.organization.management_account)
    bucket = source.artifacts_bucket(fleet.organization.management_account, ctx.region)
    up = source.upload(ctx, snap, bucket)
    return Bundle(bucket=up["bucket"], digest=up["digest"], commit=up["commit"], files=up["files"], key=up["key"],
                  dirty=up["dirty"], uploaded=up["uploaded"])
