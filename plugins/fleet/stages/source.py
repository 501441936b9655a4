"""Source stage: check the config and the account, then snapshot the fleet repository into a bundle."""

from __future__ import annotations

import json
from pathlib import Path

from fleet import gitsource, source
from fleet.aws import AwsContext
from fleet.bundle import CONFIG_NAME, Bundle
from fleet.config import FleetConfig, load_config
from fleet.stages.build import history_findings, history_key


def local_repo(fleet_repo: str | Path, ref: str | None = None,
               auth: gitsource.GitAuth | None = None) -> tuple[Path, str | None]:
    """A folder holding the fleet repository, and the ref to snapshot in it.

    A git URL is cloned (full history, once per commit, into the private cache of
    ``fleet.gitsource``) and the ref comes back resolved to its commit, so every later step of the
    run sees that commit even when the branch moves meanwhile. A plain folder is used as it is.
    """
    if gitsource.is_git_url(str(fleet_repo)):
        path, commit = gitsource.clone(str(fleet_repo), ref or None, auth)
        return path, commit
    return Path(fleet_repo), ref or None


def read_config(repo: Path) -> FleetConfig:
    """The repository's validated config (ConfigError names file, key and line)."""
    return load_config(Path(repo) / CONFIG_NAME)


def preflight(ctx: AwsContext, config: FleetConfig, targets: list[str]) -> dict:
    """Refuse credentials of another account; return what the later tasks are configured with."""
    org = config.organization
    ctx.require_management_account(org.management_account)
    return {"region": org.home_region, "pipeline_role": org.pipeline_role, "targets": list(targets),
            "bucket": source.artifacts_bucket(org.management_account, org.home_region),
            "approvers": list(config.approval.names), "timeout_hours": config.approval.timeout_hours,
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


def commit_authors(ctx: AwsContext, bundle: Bundle, repo: Path) -> tuple[list[str], str | None]:
    """Author emails of the bundle's commits since the one last rolled out to prod (fleet.authors)."""
    from fleet import authors

    last = authors.last_deployed(ctx, bundle.bucket) or {}
    return authors.authors_since(repo, bundle.commit, last.get("commit"))


def scan_history(ctx: AwsContext, bundle: Bundle, clone: Path) -> dict:
    """Scan the clone's git history for secrets and store the result next to the bundle.

    Run by the Source task that made the clone, so the build stage (on any worker) reads the
    history's findings from S3 and never needs the repository. A scan that fails is stored as an
    error finding, not left out.
    """
    findings, purge_plan = history_findings(clone)
    doc = {"digest": bundle.digest, "commit": bundle.commit, "findings": findings, "purge_plan": purge_plan}
    ctx.client("s3").put_object(Bucket=bundle.bucket, Key=history_key(bundle),
                                Body=json.dumps(doc, indent=1).encode())
    return doc
