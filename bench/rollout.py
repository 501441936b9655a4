"""Benchmark: the pipeline's prod rollout against a bare boto3 script, at fleet scale, on local AWS.

Seeds N prod accounts (default 1,000) in a local AWS that runs in its own process, then measures,
in one run:
  full    the rollout task's work (fleet.stages.prod.run_rollout): targets from the live org, waves
          (1 account, 25 %, 100 %), change sets, the DynamoDB ledger, max_concurrent threads; the
          sample's two baselines per account, the security baseline after the network baseline
          whose VpcId output it reads (the VPC's CIDR from each account's vpc_cidr tag)
  bare    a plain boto3 script making the same calls per account (assume role, then per baseline in
          order: create change set, wait, execute, wait, the network's output passed on) with a
          thread pool of the same size and no waves, ledger or report
  noop    the rollout again with the same bundle (the ledger skips every account)
and with --plan-drift-api, on the same fleet afterwards:
  plan    prod.plan of the next bundle (a changed template): a change set in every prod account
  drift   fleet.drift.detect_fleet: drift detection on every baseline stack
  api     the Fleet API's account list (fleetview.FleetView.accounts: ledger, org, statuses)
It prints the peak memory of this process (it plays the Airflow worker) and of local AWS, and after
each phase its time and this process's memory then (a run stopped early keeps what it printed).
The last line reads `rollout ratio=<full/bare> noop=<noop/full>`.

    python bench/rollout.py                  # 1,000 accounts
    python bench/rollout.py --accounts 100   # a quick run
    python bench/rollout.py --accounts 10000 --skip-bare --plan-drift-api   # fleet scale, no baseline

Memory: --rollout-only stops after the rollout; --max-clients N sets the worker's client bound
(FLEET_MAX_CLIENTS); --memory-detail adds, after each phase (and once before the rollout), glibc's
heap in use and free (mallinfo2), the boto3 clients alive and the most numerous object types;
--tracemalloc FILE dumps an allocation snapshot after the rollout (very slow: minutes per 100 accounts).

    python bench/rollout.py --accounts 1500 --skip-bare --rollout-only --memory-detail --max-clients 256

--skip-bare seeds only the N prod accounts and leaves out the bare script (at 10,000 accounts its
second 10,000 would double the seeding); the last line then reads `rollout noop=<noop/full>`.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import boto3
import yaml
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
LOCALAWS = Path(sys.executable).parent / "localaws"  # local AWS's console script, next to this interpreter
sys.path.insert(0, str(REPO / "plugins"))
sys.path.insert(0, str(REPO))


def fleet_repo(n: int, concurrency: int, where: Path, bare: bool = True) -> Path:
    """The sample fleet with N prod accounts instead of eight, and N more for the bare script (the
    baseline names its role and topic, so two stacks of it cannot share an account)."""
    repo = where / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = yaml.safe_load((repo / "fleet.yaml").read_text())
    keep = [a for a in cfg["accounts"] if a["ou"] != "Prod"]
    made = [{"name": f"{ou.lower()}-{i:04d}", "email": f"{ou.lower()}-{i:04d}@example.com", "ou": ou,
             "tags": {"tier": "workload", "vpc_cidr": f"10.{i // 256}.{i % 256}.0/24"}}
            for ou in ("Prod", "Bare")[:2 if bare else 1] for i in range(n)]
    next(o for o in cfg["ous"] if o["name"] == "Workloads")["children"].append({"name": "Bare"})
    cfg["accounts"] = keep + made
    for b in cfg["baselines"]:  # the sample's per-account override, on one of the generated accounts
        for override in b.get("overrides") or []:
            if override.get("accounts"):
                override["accounts"] = ["prod-0000"]
    cfg["environments"]["prod"]["max_concurrent"] = concurrency
    (repo / "fleet.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return repo


def phase(name: str, seconds: float, **extra) -> None:
    """One line per phase as soon as it ends: a long run stopped early keeps what it printed."""
    more = "".join(f" {k}={v}" for k, v in extra.items())
    print(f"phase {name:<8} {seconds:8.1f} s  worker rss now {rss_now_mb():.0f} MB, peak {rss_mb():.0f} MB{more}"
          + (f" [{malloc_mb().strip()}, {live_clients()} clients alive]\n  objects: {object_census()}"
             if MEMORY_DETAIL else ""), flush=True)


MEMORY_DETAIL = False  # --memory-detail: glibc heap figures and live clients after each phase


def malloc_mb() -> str:
    """glibc's view of the heap: bytes in use by malloc, and free bytes it keeps in its arenas (the
    fragmentation RSS carries but Python does not hold), from mallinfo2; empty elsewhere."""
    import ctypes

    class MallInfo2(ctypes.Structure):
        _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                   "fsmblks", "uordblks", "fordblks", "keepcost")]
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = MallInfo2
        m = libc.mallinfo2()
    except (OSError, AttributeError):
        return ""
    return f" malloc in use {(m.uordblks + m.hblkhd) / 2**20:.0f} MB, free in arenas {m.fordblks / 2**20:.0f} MB"


def live_clients() -> int:
    """botocore clients still alive in this process (cached, or not yet collected)."""
    import gc

    from botocore.client import BaseClient

    gc.collect()
    return sum(isinstance(o, BaseClient) for o in gc.get_objects())


def object_census(top: int = 12) -> str:
    """The most numerous object types the garbage collector tracks (what grows with the fleet shows here)."""
    import gc
    from collections import Counter

    counts = Counter(type(o).__qualname__ for o in gc.get_objects())
    return ", ".join(f"{name} {n}" for name, n in counts.most_common(top))


def rss_now_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def next_bundle(repo: Path, where: Path) -> Path:
    """The fleet repo with one changed baseline template (a new output): the next release to plan."""
    changed = where / "fleet-next"
    shutil.copytree(repo, changed)
    cfg = yaml.safe_load((changed / "fleet.yaml").read_text())
    template = changed / cfg["baselines"][0]["template"]
    body = template.read_text()
    marker = "\nOutputs:\n"
    assert marker in body, f"{template}: no Outputs section to extend"
    template.write_text(body.replace(marker, marker + "  BenchRelease:\n    Value: next\n", 1))
    return changed


def rss_mb(pid: int | None = None) -> float:
    if pid is None:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def bare_rollout(endpoint: str, accounts: list[tuple[str, str]], network: str, security: str, params: dict,
                 concurrency: int) -> None:
    """What a careful engineer would script by hand: the same calls, a thread pool, nothing else.
    ``accounts``: (id, VPC CIDR); per account the network stack, then the security stack with its VpcId."""
    cfg = Config(retries={"mode": "adaptive", "max_attempts": 10}, max_pool_connections=concurrency + 4)
    sts = boto3.client("sts", endpoint_url=endpoint, region_name="us-east-1", config=cfg)

    def stack(cfn, name: str, template: str, values: dict) -> dict:
        cfn.create_change_set(StackName=name, ChangeSetName="bare", ChangeSetType="CREATE",
                              TemplateBody=template, Capabilities=["CAPABILITY_NAMED_IAM"],
                              Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()])
        while cfn.describe_change_set(StackName=name, ChangeSetName="bare")["Status"] not in {
                "CREATE_COMPLETE", "FAILED"}:
            time.sleep(1)
        cfn.execute_change_set(StackName=name, ChangeSetName="bare")
        while (s := cfn.describe_stacks(StackName=name)["Stacks"][0])["StackStatus"].endswith("_IN_PROGRESS"):
            time.sleep(1)
        return s

    def one(account: tuple[str, str]) -> str:
        c = sts.assume_role(RoleArn=f"arn:aws:iam::{account[0]}:role/OrganizationAccountAccessRole",
                            RoleSessionName="bare")["Credentials"]
        cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name="us-east-1", config=cfg,
                           aws_access_key_id=c["AccessKeyId"], aws_secret_access_key=c["SecretAccessKey"],
                           aws_session_token=c["SessionToken"])
        net = stack(cfn, "bare-network", network, {"VpcCidr": account[1]})
        if net["StackStatus"] != "CREATE_COMPLETE":
            return net["StackStatus"]
        vpc = next(o["OutputValue"] for o in net["Outputs"] if o["OutputKey"] == "VpcId")
        return stack(cfn, "bare-security-baseline", security, {**params, "NetworkVpcId": vpc})["StackStatus"]

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        states = list(pool.map(one, accounts))
    bad = [s for s in states if s != "CREATE_COMPLETE"]
    if bad:
        raise SystemExit(f"bare rollout: {len(bad)} stacks not complete: {bad[:3]}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--accounts", type=int, default=1000)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--port", type=int, default=4599)
    ap.add_argument("--skip-bare", action="store_true", help="no bare-script baseline (half the seeding)")
    ap.add_argument("--plan-drift-api", action="store_true",
                    help="then time the plan of a changed bundle, the drift sweep and the Fleet API")
    ap.add_argument("--rollout-only", action="store_true", help="stop after the pipeline rollout")
    ap.add_argument("--max-clients", type=int, help="the worker's client bound (FLEET_MAX_CLIENTS)")
    ap.add_argument("--memory-detail", action="store_true",
                    help="after each phase also print glibc's heap in use and free, and the live boto3 clients")
    ap.add_argument("--tracemalloc", metavar="FILE",
                    help="trace allocations (25 frames) and dump a snapshot to FILE after the rollout (slow)")
    args = ap.parse_args()
    global MEMORY_DETAIL
    MEMORY_DETAIL = args.memory_detail
    if args.max_clients is not None:
        os.environ["FLEET_MAX_CLIENTS"] = str(args.max_clients)

    os.environ.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"})
    work = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    repo = fleet_repo(args.accounts, args.concurrency, work, bare=not args.skip_bare)
    state = work / "localaws"
    t = time.time()
    # Local AWS's own command (its package, installed next to this interpreter); seeded from here
    # rather than by `up --config`, whose start timeout a large generated fleet would exceed.
    up = subprocess.run([str(LOCALAWS), "up", "--port", str(args.port), "--state-dir", str(state)],
                        capture_output=True, text=True)
    if up.returncode:
        print(up.stdout, up.stderr, file=sys.stderr)
        return 1
    endpoint = f"http://127.0.0.1:{args.port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    from localaws.seed import seed_organization

    try:  # from here on local AWS is stopped however the run ends (Ctrl-C during seeding too)
        seed_organization(endpoint, repo / "fleet.yaml")
        print(f"seeded {(1 if args.skip_bare else 2) * args.accounts} accounts in {time.time() - t:.1f}s "
              f"(local AWS in its own process)", flush=True)
        from fleet.aws import AwsContext
        from fleet.org import read_org
        from fleet.stages import prod, source

        os.environ["FLEET_WORK_DIR"] = str(work / "bundles")
        ctx = AwsContext.from_environment("us-east-1")
        ctx.client("s3").create_bucket(Bucket="fleet-artifacts-123456789012-us-east-1")
        bundle = source.snapshot_and_upload(ctx, repo).open(ctx)

        if args.tracemalloc:
            import tracemalloc

            tracemalloc.start(25)
        if args.memory_detail:
            phase("ready", 0.0)
        t = time.time()
        full = prod.run_rollout(ctx, bundle, run_id="bench-full", log=lambda *_: None)
        full_s = time.time() - t
        # Two stacks per prod account, and the network in shared-network (Infrastructure).
        stacks_expected = 2 * args.accounts + 1
        done = sum(r["status"] == "created" for w in full["waves"] for r in w["results"])
        assert done == stacks_expected and not full["halted"], f"pipeline rollout: {done} created"
        phase("rollout", full_s, accounts=done)
        del full
        if args.tracemalloc:
            import gc

            gc.collect()
            tracemalloc.take_snapshot().dump(args.tracemalloc)
            current, peak = tracemalloc.get_traced_memory()
            print(f"tracemalloc: {current / 2**20:.0f} MB traced now, {peak / 2**20:.0f} MB peak; "
                  f"tracemalloc's own {tracemalloc.get_tracemalloc_memory() / 2**20:.0f} MB; snapshot in {args.tracemalloc}",
                  flush=True)
            tracemalloc.stop()
        if args.rollout_only:
            return 0

        peak_after_rollout = rss_mb()
        bare_s = None
        if not args.skip_bare:
            bare = [(a.id, a.tags["vpc_cidr"]) for a in read_org(ctx).accounts if a.ou == "Bare"]
            network, security = ((bundle.root / bundle.config.baseline(name).template).read_text()
                                 for name in ("network", "security-baseline"))
            params = {"ManagementAccountId": "123456789012", "AlertEmail": "", "RetentionDays": "365"}
            t = time.time()
            bare_rollout(endpoint, bare, network, security, params, args.concurrency)
            bare_s = time.time() - t
            phase("bare", bare_s, accounts=len(bare))

        t = time.time()
        noop = prod.run_rollout(ctx, bundle, run_id="bench-noop", log=lambda *_: None)
        noop_s = time.time() - t
        skipped = sum(r["status"] == "skipped" for w in noop["waves"] for r in w["results"])
        assert skipped == stacks_expected, f"no-op rerun skipped only {skipped}"
        phase("noop", noop_s, skipped=skipped)
        del noop
        if args.plan_drift_api:
            from fleet import drift
            from fleet.fleetview import FleetView

            nxt = source.snapshot_and_upload(ctx, next_bundle(repo, work)).open(ctx)
            t = time.time()
            planned = prod.plan(ctx, nxt, run_id="bench-plan", max_concurrent=args.concurrency)
            rows = planned["accounts"]  # one row per account and baseline
            changed = sum(r["status"] != "unchanged" for r in rows)
            assert len(rows) == stacks_expected, f"plan: {len(rows)} rows, {stacks_expected} stacks expected"
            phase("plan", time.time() - t, stacks=len(rows), with_changes=changed)
            del planned
            t = time.time()
            found = drift.detect_fleet(ctx, bundle.config, max_concurrent=args.concurrency, run_id="bench-drift",
                                       poll=0.5)
            phase("drift", time.time() - t, stacks=found["summary"]["stacks"], drifted=found["summary"]["drifted"],
                  unknown=found["summary"]["unknown"])
            del found
            view = FleetView(ctx, bundle.config)
            t = time.time()
            listed = view.accounts()
            phase("api", time.time() - t, accounts=len(listed["accounts"]))
            del listed

        import json

        server_pid = json.loads((state / "state.json").read_text())["pid"]
        print(f"accounts={args.accounts} concurrency={args.concurrency}")
        print(f"pipeline rollout (3 waves, ledger)  {full_s:8.1f} s")
        if bare_s is not None:
            print(f"bare boto3 thread pool              {bare_s:8.1f} s")
        print(f"pipeline no-op rerun                {noop_s:8.1f} s")
        print(f"peak memory: worker (this process) {rss_mb():.0f} MB ({peak_after_rollout:.0f} MB after the "
              f"pipeline rollout), local AWS {rss_mb(server_pid):.0f} MB")
        ratio = f"ratio={full_s / bare_s:.2f} " if bare_s is not None else ""
        print(f"rollout {ratio}noop={noop_s / full_s:.2f}")
        return 0
    finally:
        subprocess.run([str(LOCALAWS), "down", "--state-dir", str(state)], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
