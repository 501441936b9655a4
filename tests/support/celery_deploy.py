"""The Celery test's helpers: the stack of scripts/celery_stack.py (`make up-celery` runs the same
code), a small REST API client, and the approver (one function, `approve_from_second_process`)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import REPO

_spec = importlib.util.spec_from_file_location("celery_stack", REPO / "scripts" / "celery_stack.py")
celery_stack = importlib.util.module_from_spec(_spec)
sys.modules["celery_stack"] = celery_stack  # dataclasses resolve their module by name
_spec.loader.exec_module(celery_stack)
CeleryStack = celery_stack.CeleryStack
FLEET = Path(sys.executable).parent / "fleet"


class Api:
    """Airflow's public REST API (v2) with a token from the simple auth manager (all admins)."""

    def __init__(self, base: str):
        self.base = base
        self.token = self._call("GET", "/auth/token", auth=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, auth: bool = True):
        req = urllib.request.Request(self.base + path, method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json"})
        if auth:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise AssertionError(f"{method} {path}: HTTP {exc.code}: {exc.read()[:500]!r}") from exc

    def get(self, path: str):
        return self._call("GET", path)

    def wait_dag(self, dag_id: str, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                self.get(f"/api/v2/dags/{dag_id}")
                return
            except AssertionError:
                time.sleep(1)
        raise AssertionError(f"{dag_id} was not parsed by the dag-processor in {timeout:.0f} s")

    def trigger(self, dag_id: str, conf: dict) -> str:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", {"is_paused": False})
        return self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf})["dag_run_id"]

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}")["state"]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances?limit=100")["task_instances"]

    def tries(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        return self.get(f"/api/v2/dags/{dag_id}/dagRuns/{_q(run_id)}/taskInstances/{task_id}/tries")[
            "task_instances"]


def _q(value: str) -> str:
    return urllib.request.quote(value, safe="")


def fleet_env(stack) -> dict[str, str]:
    """What an approver's shell holds: local AWS and dummy credentials (their key is a file: --key)."""
    return {**os.environ, "AWS_ENDPOINT_URL": stack.aws_endpoint, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


def approve_from_second_process(stack, run_id: str, still_running, timeout: float = 600,
                                approver: str = "platform-lead") -> None:
    """Wait for the run's approval request, then approve it with `fleet approve`, each a process of
    its own (as a person at another machine would). The only place the Celery test approves: when
    approvals change (per-approver keys), this function changes with them."""
    env = fleet_env(stack)
    deadline = time.time() + timeout
    while time.time() < deadline:
        listed = subprocess.run([str(FLEET), "approvals", "--format", "json"], env=env, capture_output=True,
                                text=True)
        if listed.returncode == 0 and any(r.get("run_id") == run_id for r in json.loads(listed.stdout or "[]")):
            # prod.approval counts the decisions present just after publishing the request; answer
            # a moment later, as a person would.
            time.sleep(3)
            from tests.support.approval import key_path

            # Signed with the approver's own key; the fleet remote lists its public key (fleet_remote).
            done = subprocess.run([str(FLEET), "approve", run_id, "--approver", approver, "--key", key_path(approver),
                                   "--reason", "celery test"], env=env, capture_output=True, text=True)
            assert done.returncode == 0, f"fleet approve failed: {done.stdout}{done.stderr}"
            return
        if not still_running():
            return  # the run ended before asking; the caller reports why
        time.sleep(2)
    raise AssertionError(f"no approval request for {run_id} within {timeout:.0f} s")


def kill_worker_and_its_tasks(component) -> list[int]:
    """SIGKILL a worker's process group and the process group of every task it runs (the task
    supervisor starts its own), as a lost machine would: nothing gets to clean up. Returns the groups."""
    import signal

    import psutil

    root = psutil.Process(component.proc.pid)
    groups = {component.pgid}
    for child in root.children(recursive=True):
        try:
            groups.add(os.getpgid(child.pid))
        except ProcessLookupError:
            pass
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except ProcessLookupError:
            pass
    component.proc.wait(10)
    return sorted(groups)


def redeliver_unacked(stack) -> int:
    """Hand every unacked task message back to its queue, as the Redis transport does once the
    visibility timeout has passed (kombu's own restore, with a timeout of zero). Returns how many."""
    from kombu import Connection

    r = stack.redis()
    tags = r.hkeys("unacked")
    with Connection(f"{stack.redis_url}/{stack.redis_db}", transport_options={"visibility_timeout": 0}) as conn:
        for tag in tags:
            conn.default_channel.qos.restore_by_tag(tag)
    return len(tags)
