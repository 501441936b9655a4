"""Benchmark: the Fleet page's data at 1,000 accounts, on local AWS in its own process.

Seeds an organization of N prod accounts (default 1,000) plus the sample's others, writes a ledger
entry for each (one baseline stack; a few failed, a few on an older bundle), a run report with its
waves, vending records and a drift report, then times what one page load reads through
``fleet.fleetview`` (the Fleet API calls the same functions; the HTML adds only rendering, timed too):

  accounts    the organization's accounts, the ledger scan, the latest drift report, statuses
  rollout     the latest run report's waves
  approvals   pending approval requests
  vending     the request log
  page cold   all of the above plus the HTML, every read from AWS
  page        the same from the snapshot the API server keeps (``CachedView``), which is what GET
              /fleet/ costs after the server's first load; the snapshot refreshes in the background

Each is timed `--repeat` times (default 5); the median is printed. The last line reads
`fleet page accounts=<N> page_median=<seconds>`.

    python bench/fleet_page.py                 # 1,000 accounts
    python bench/fleet_page.py --accounts 100  # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOCALAWS = Path(sys.executable).parent / "localaws"
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO))


def fleet_repo(n: int, where: Path) -> Path:
    repo = where / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = yaml.safe_load((repo / "fleet.yaml").read_text())
    keep = [a for a in cfg["accounts"] if a["ou"] != "Prod"]
    cfg["accounts"] = keep + [{"name": f"prod-{i:04d}", "email": f"prod-{i:04d}@example.com", "ou": "Prod",
                               "tags": {"tier": "workload", "team": f"team-{i % 10}"}} for i in range(n)]
    (repo / "fleet.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return repo


def seed_state(ctx, config, n: int) -> None:
    """Ledger entries, a run report, vending records and a drift report, as the DAGs write them."""
    from fleet import report, source
    from fleet.ledger import Ledger
    from fleet.org import read_org
    from fleet.stacks import DeployResult
    from fleet.vending_log import RequestLog

    org = config.organization
    bucket = source.artifacts_bucket(org.management_account, org.home_region)
    ctx.client("s3").create_bucket(Bucket=bucket)
    accounts = [a for a in read_org(ctx, with_tags=False).accounts if a.name.startswith("prod-")]
    ledger = Ledger(ctx)
    ledger.ensure_table()
    old, new = "0" * 64, "1" * 64
    ledger.record([(DeployResult(a.id, a.name, "us-east-1", "fleet-security-baseline", "created"), old)
                   for a in accounts], "bench-run-0")
    ledger.record([(DeployResult(a.id, a.name, "us-east-1", "fleet-security-baseline",
                                 "failed" if i % 100 == 7 else "updated",
                                 error="AccessDenied: bench" if i % 100 == 7 else None), new)
                   for i, a in enumerate(accounts) if i % 50 != 3], "bench-run-1")
    doc = report.build("bench-run-1", {"bucket": bucket, "digest": new}, {"prod": {"status": "failed"}})
    doc["rollout"] = {"halted": False, "halt_reason": None, "not_started": [], "waves": [
        {"wave": 1, "outcome": "succeeded", "accounts": [accounts[0].name], "failed_accounts": [], "stacks": 1,
         "rolled_back": 0, "tolerance": 0},
        {"wave": 2, "outcome": "within tolerance", "accounts": [a.name for a in accounts[1:]],
         "failed_accounts": [], "stacks": n - 1, "rolled_back": 0, "tolerance": 50}]}
    report.store(ctx, doc)
    log = RequestLog(ctx)
    for i in range(20):
        log.put({"email": f"new-{i}@example.com", "name": f"new-{i}", "outcome": "created", "stage": "set-up"})
    stacks = [{"account_name": a.name, "account_id": a.id, "region": "us-east-1",
               "stack_name": "fleet-security-baseline", "status": "DRIFTED" if i % 200 == 11 else "IN_SYNC",
               "resources": []} for i, a in enumerate(accounts)]
    ctx.client("s3").put_object(Bucket=bucket, Key="drift/bench/report.json", Body=json.dumps(
        {"run_id": "bench", "finished_at": "2026-12-01T05:00:00+00:00", "summary": {"text": "bench"},
         "stacks": stacks}).encode())


def timed(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--port", type=int, default=4598)
    args = ap.parse_args()

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-page-"))
    repo = fleet_repo(args.accounts, work)
    state = work / "localaws"
    t = time.time()
    up = subprocess.run([str(LOCALAWS), "up", "--port", str(args.port), "--state-dir", str(state)],
                        capture_output=True, text=True)
    if up.returncode:
        print(up.stdout, up.stderr, file=sys.stderr)
        return 1
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    try:
        from localaws.seed import seed_organization

        seed_organization(endpoint, repo / "fleet.yaml")
        from fleet.aws import AwsContext
        from fleet.config import load_config
        from fleet.fleetview import CachedView, FleetView
        from fleet_airflow.ui import page

        ctx = AwsContext.from_environment("us-east-1")
        config = load_config(repo / "fleet.yaml")
        seed_state(ctx, config, args.accounts)
        print(f"seeded {args.accounts} prod accounts and their ledger in {time.time() - t:.1f}s")
        direct = FleetView(ctx, config)
        cached = CachedView(direct, max_age=3600)

        def whole_page(view) -> str:
            return page.fleet_page(accounts=view.accounts(), rollout=view.latest_rollout(),
                                   approvals=view.approvals(), vending=view.vending(), drift=view.drift(),
                                   ou=None, status=None)

        results = {}
        for name, fn in (("accounts", direct.accounts), ("rollout", direct.latest_rollout),
                         ("approvals", direct.approvals), ("vending", direct.vending), ("drift", direct.drift),
                         ("page cold", lambda: whole_page(direct))):
            results[name], out = timed(fn, args.repeat)
            if name == "accounts":
                counts = out["counts"]
                assert len(out["accounts"]) >= args.accounts, f"only {len(out['accounts'])} accounts"
            print(f"{name:<10} {results[name] * 1000:8.0f} ms (median of {args.repeat}, every read from AWS)")
        whole_page(cached)  # the API server's first load fills the snapshot
        results["page"], _ = timed(lambda: whole_page(cached), args.repeat)
        results["filtered"], _ = timed(lambda: cached.accounts(ou="Prod", status="failed"), args.repeat)
        print(f"{'page':<10} {results['page'] * 1000:8.0f} ms (median of {args.repeat}, from the snapshot "
              f"the API server keeps and refreshes in the background)")
        print(f"{'filtered':<10} {results['filtered'] * 1000:8.0f} ms (OU and status filter on the snapshot)")
        print(f"statuses: {counts}")
        print(f"fleet page accounts={args.accounts} page_median={results['page']:.3f} "
              f"cold_median={results['page cold']:.3f}")
        return 0
    finally:
        subprocess.run([str(LOCALAWS), "down", "--state-dir", str(state)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
