"""Who wrote what a run deploys: the git author emails of the bundle's commits since the last prod
deployment, so that nobody approves their own change (separation of duties even for runs nobody
triggered: cron, asset events).

The Source stage knows the commit range (this bundle's commit and the commit of the bundle last
rolled out to prod, which the rollout records in the artifacts bucket); the authors travel with
the bundle's reference to the gate.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from fleet.aws import AwsContext, error_code

DEPLOYED_KEY = "deployed/prod.json"  # the bundle last rolled out to prod: {digest, commit, run_id}
MAX_COMMITS = 10_000  # a first deployment of a long history: the newest commits are the ones that matter


def last_deployed(ctx: AwsContext, bucket: str) -> dict | None:
    try:
        return json.loads(ctx.client("s3").get_object(Bucket=bucket, Key=DEPLOYED_KEY)["Body"].read())
    except Exception as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NoSuchBucket"}:
            return None
        raise


def record_deployed(ctx: AwsContext, bucket: str, *, digest: str, commit: str | None, run_id: str) -> None:
    """After a prod rollout: the start of the next run's commit range."""
    ctx.client("s3").put_object(Bucket=bucket, Key=DEPLOYED_KEY, ContentType="application/json",
                                Body=json.dumps({"digest": digest, "commit": commit, "run_id": run_id}).encode())


def authors_since(repo: str | Path, commit: str | None, since: str | None) -> tuple[list[str], str | None]:
    """(sorted author emails of ``since..commit``, the range's start actually used).

    Without a usable ``since`` (first deployment, or a history rewritten so it is no ancestor) every
    commit reachable from ``commit`` counts: stricter, never looser. No commit: no authors known.
    """
    if not commit:
        return [], None

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=60)

    start = since if since and git("merge-base", "--is-ancestor", since, commit).returncode == 0 else None
    rev = f"{start}..{commit}" if start else commit
    # Only commits touching the fleet repo folder (it may be a folder of a larger repository).
    out = git("log", f"--max-count={MAX_COMMITS}", "--format=%ae", rev, "--", ".")
    if out.returncode:
        raise RuntimeError(f"git log {rev} in {repo} failed: {out.stderr.strip()}")
    return sorted({line.strip().lower() for line in out.stdout.splitlines() if line.strip()}), start
