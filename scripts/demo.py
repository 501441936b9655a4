"""`make demo`: the whole account fleet pipeline on local AWS, approved from a second process.

1. start local AWS on 127.0.0.1, seeded with the organization in include/fleet.yaml;
2. vend one new prod account with the account_vending DAG (created, ready, guardrails, baseline);
3. run the account_fleet_pipeline DAG end to end with `airflow dags test` (a real DAG run with its
   own metadata DB, deferrable sensors run through their triggers in line);
4. when the run waits at prod.approval, record the decision with `fleet approve` from this process,
   signed with the approver's own key (made once per checkout in .demo/keys/, owner-only; the run
   uses .demo/fleet-repo, a copy of include/ listing those public keys: scripts/demo_keys.py);
5. print the run report (per stage, per account) and stop everything it started.

Run it again and it succeeds again: every stage is idempotent, and local AWS starts fresh.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
BIN = Path(sys.executable).parent
DEMO_HOME = DEMO / "airflow-demo"
APPROVER = "platform-lead"


def free_port(preferred: int = 4566) -> int:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", preferred))
            return preferred
        except OSError:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]


def demo_env(endpoint: str, fleet_repo: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        # Not `make up`'s home (.demo/airflow): its runs would show there as green runs whose reports
        # and stacks vanished with this demo's local AWS, and its asset events would schedule runs.
        "AIRFLOW_HOME": str(DEMO_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
            "conn_type": "aws", "login": "testing", "password": "testing",
            "extra": {"endpoint_url": endpoint, "region_name": "us-east-1"}}),
        "FLEET_REPO": str(fleet_repo),  # the DAG's default fleet_repo: the copy with the demo approvers' keys
        # For `fleet approve`, which like any AWS CLI takes its endpoint and credentials from here.
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true",
    })
    return env


def run(cmd: list[str], env: dict, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, env=env, cwd=ROOT, **kw)


def step(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def main() -> int:
    started = time.time()
    port = free_port()
    state_dir = DEMO / "localaws"
    from demo_keys import KEYS, prepare

    fleet_repo = prepare()
    step(f"approvers' keys in {KEYS.relative_to(ROOT)}/ (owner-only); the run uses {fleet_repo.relative_to(ROOT)}, "
         "a copy of include/ listing their public keys")
    endpoint = f"http://127.0.0.1:{port}"
    env = demo_env(endpoint, fleet_repo)
    step(f"starting local AWS on {endpoint}, seeded from include/fleet.yaml")
    # Local AWS is its own package with its own command (installed by `make install`).
    if run([str(BIN / "localaws"), "up", "--port", str(port), "--config", "include/fleet.yaml",
            "--state-dir", str(state_dir)], env).returncode:
        return 1
    try:
        return pipeline(env, started)
    finally:
        step("stopping local AWS")
        run([str(BIN / "localaws"), "down", "--state-dir", str(state_dir)], env)


def pipeline(env: dict, started: float) -> int:
    step("preparing the Airflow metadata DB and pools (.demo/airflow-demo)")
    # Local AWS starts fresh, so the metadata does too: no earlier run or asset event outlives its AWS state.
    run([str(BIN / "airflow"), "db", "reset", "--yes"], env, check=True, capture_output=True)
    # The organization-wide limits (one prod rollout at a time, 5 account operations at once).
    from fleet_airflow.pools import POOLS, cli_args

    for pool in POOLS:
        run([str(BIN / "airflow"), *cli_args(pool)], env, check=True, capture_output=True)

    if vend(env):
        return 1

    log_path = DEMO / "dag-run.log"
    step(f"running DAG account_fleet_pipeline (log: {log_path.relative_to(ROOT)})")
    # The demo decides with `fleet approve` from a second process, so it turns the run's UI approval
    # off (the sample config has it on: `make up` decides in the UI's Required actions).
    conf = json.dumps({"approval_ui": False})
    with open(log_path, "w") as log:
        dag_run = subprocess.Popen([str(BIN / "airflow"), "dags", "test", "account_fleet_pipeline", "-c", conf],
                                   env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        run_id = approve_when_asked(env, dag_run)
        code = dag_run.wait()
    if run_id is None:
        print(tail(log_path), file=sys.stderr)
        print(f"the DAG run ended (exit {code}) before asking for approval", file=sys.stderr)
        return 1
    report = fetch_report(env, run_id)
    print()
    print(report or "(no run report found)")
    print()
    took = time.time() - started
    if code:
        print(tail(log_path), file=sys.stderr)
        print(f"demo FAILED after {took:.0f}s: the DAG run failed (log: {log_path})", file=sys.stderr)
        return 1
    print(f"demo succeeded in {took:.0f}s. Open the UI on the same setup with `make up`.")
    return 0


NEW_ACCOUNT = {"name": "app-prod-09", "email": "app-prod-09@example.com", "ou": "Prod",
               "tags": {"tier": "workload", "team": "payments", "vpc_cidr": "10.109.0.0/16"}}


def vend(env: dict) -> int:
    """Vend one new prod account first: the pipeline's prod waves then include it."""
    log_path = DEMO / "vending-run.log"
    step(f"running DAG account_vending for {NEW_ACCOUNT['name']} (log: {log_path.relative_to(ROOT)})")
    conf = json.dumps({"accounts": [NEW_ACCOUNT], "poll_seconds": 5})
    with open(log_path, "w") as log:
        code = run([str(BIN / "airflow"), "dags", "test", "account_vending", "-c", conf], env, stdout=log,
                   stderr=subprocess.STDOUT).returncode
    print(run([str(BIN / "fleet"), "accounts"], env, capture_output=True, text=True).stdout.rstrip())
    if code:
        print(tail(log_path), file=sys.stderr)
        print(f"the account_vending run failed (exit {code}; log: {log_path})", file=sys.stderr)
    return code


def approve_when_asked(env: dict, dag_run: subprocess.Popen, timeout: float = 600) -> str | None:
    """Poll the approval store like an approver would, then approve from this (second) process."""
    deadline = time.time() + timeout
    while time.time() < deadline and dag_run.poll() is None:
        out = run([str(BIN / "fleet"), "approvals", "--format", "json"], env, capture_output=True, text=True)
        pending = json.loads(out.stdout or "[]") if out.returncode == 0 else []
        if pending:
            req = pending[0]
            step(f"run {req['run_id']} waits for approval: {req['summary']}")
            cmd = [str(BIN / "fleet"), "approve", req["run_id"], "--approver", APPROVER,
                   "--key", f".demo/keys/{APPROVER}", "--config", ".demo/fleet-repo/fleet.yaml",
                   "--reason", "demo: plan reviewed"]
            step("approving from a second process: fleet approve " + " ".join(cmd[2:]))
            run(cmd, env, check=True)
            return req["run_id"]
        time.sleep(1)
    return None


def fetch_report(env: dict, run_id: str) -> str | None:
    # --plan: the approved plan per account and baseline (their order, the resolved parameters).
    out = run([str(BIN / "fleet"), "report", run_id, "--plan"], env, capture_output=True, text=True)
    return out.stdout.strip() if out.returncode == 0 else out.stderr.strip()


def tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


if __name__ == "__main__":
    if shutil.which("git") is None:
        print("demo: git is required (the Source stage records the commit)", file=sys.stderr)
        sys.exit(2)
    sys.exit(main())
