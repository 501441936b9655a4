"""Airflow's real components as subprocesses, for the tests that go through the user's door.

Each component (api-server, scheduler, dag-processor, triggerer) is started with
``python -m airflow <command>`` in an Airflow home of its own (a SQLite metadata DB, LocalExecutor,
as `airflow standalone` and `make up` use them), the simple auth manager with known users and
passwords, this repository's DAGs and plugins, the pools the DAGs use, and the AWS connection
pointing at local AWS. DAGs are unpaused (a triggered run runs) but cron schedules are off (no
scheduled run appears beside the test's own). A component that does not come up fails the test
with its log's tail, never a skip.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from tests.support import REPO, aws_connection

# user -> role, as `make up` sets them (fleet_airflow.ui_users): platform-lead and security-lead are the
# sample config's approvers with the "user" role; admin is no approver.
USERS = {"admin": "admin", "platform-lead": "user", "security-lead": "user"}
PASSWORD = "fleet-ui-test-password"  # pragma: allowlist secret


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AirflowStack:
    def __init__(self, home: Path, aws_endpoint: str, env: dict[str, str] | None = None):
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.procs: dict[str, subprocess.Popen] = {}
        home.mkdir(parents=True, exist_ok=True)
        (home / "passwords.json").write_text(json.dumps({u: PASSWORD for u in USERS}))
        self.env = {**os.environ,
                    "AIRFLOW_HOME": str(home),
                    "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
                    "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
                    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                    "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
                    "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
                    "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
                    "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
                    "AIRFLOW__CORE__PARALLELISM": "4",
                    "AIRFLOW__CORE__AUTH_MANAGER":
                        "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager",
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": ",".join(f"{u}:{r}" for u, r in USERS.items()),
                    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
                    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.url}/execution/",
                    "AIRFLOW__API__PORT": str(self.port),
                    "AIRFLOW__API__BASE_URL": self.url,
                    # a fixed secret, so tokens stay valid across the components
                    "AIRFLOW__API_AUTH__JWT_SECRET": "fleet-ui-jwt-0123456789abcdef",  # pragma: allowlist secret
                    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
                    "AIRFLOW_CONN_AWS_DEFAULT": aws_connection(aws_endpoint),
                    "FLEET_REPO": str(REPO / "include"),
                    "FLEET_PAGE_MAX_AGE": "0",  # the Fleet API reads AWS on every request: tests check it at once
                    **(env or {})}

    def airflow(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                              text=True, timeout=timeout)
        if done.returncode:
            raise AssertionError(f"airflow {' '.join(args)} exited {done.returncode}:\n{done.stderr[-3000:]}")
        return done

    def start(self, component: str, *args: str) -> None:
        log = open(self.home / f"{component}.log", "w")  # noqa: SIM115 (kept open for the process's life)
        self.procs[component] = subprocess.Popen([sys.executable, "-m", "airflow", component, *args], env=self.env,
                                                 stdout=log, stderr=subprocess.STDOUT, start_new_session=True)

    def start_all(self) -> None:
        """The DB, the pools and every component, as `make up` runs them; returns once the API answers."""
        from fleet_airflow.pools import POOLS, cli_args

        self.airflow("db", "migrate")
        for pool in POOLS:
            self.airflow(*cli_args(pool))
        self.airflow("dags", "reserialize")  # the DAGs in the DB before the first request
        self.start("api-server", "--port", str(self.port))
        for component in ("scheduler", "dag-processor", "triggerer"):
            self.start(component)
        self.wait_api()

    def check_alive(self) -> None:
        """Fail naming the component (with its log) if one has died."""
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"the {name} exited {proc.returncode}:\n{self.log_tail(name)}")

    def wait_run(self, dag_id: str, run_id: str, token: str, states=("success", "failed"),
                 timeout: float = 600) -> dict:
        """Poll the REST API until the run is in one of ``states``; fail with every task's state if not."""
        from urllib.parse import quote

        path = f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
        deadline = time.monotonic() + timeout
        run: dict = {}
        while time.monotonic() < deadline:
            self.check_alive()
            status, run = self.request("GET", path, token)
            if status == 200 and run["state"] in states:
                return run
            time.sleep(2)
        raise AssertionError(f"run {run_id} not in {states} after {timeout:.0f} s: {run.get('state')}; "
                             f"tasks: {self.task_states(dag_id, run_id, token)}")

    def task_states(self, dag_id: str, run_id: str, token: str) -> dict[str, str]:
        from urllib.parse import quote

        status, body = self.request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}"
                                    "/taskInstances?limit=200", token)
        if status != 200:
            return {"?": f"{status} {body}"}
        return {t["task_id"] + (f"[{t['map_index']}]" if t["map_index"] >= 0 else ""): t["state"]
                for t in body["task_instances"]}

    def wait_task(self, dag_id: str, run_id: str, task_id: str, state: str, token: str,
                  timeout: float = 600) -> None:
        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            self.check_alive()
            states = self.task_states(dag_id, run_id, token)
            if states.get(task_id) == state:
                return
            if states.get(task_id) in ("failed", "upstream_failed", "skipped"):
                break
            time.sleep(2)
        raise AssertionError(f"{task_id} of {run_id} never became {state}: {states}\n"
                             f"scheduler log: {self.log_tail('scheduler', 2000)}")

    def wait_api(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            proc = self.procs["api-server"]
            if proc.poll() is not None:
                raise AssertionError(f"the api-server exited {proc.returncode}:\n{self.log_tail('api-server')}")
            try:
                with urllib.request.urlopen(f"{self.url}/api/v2/monitor/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise AssertionError(f"the api-server did not answer within {timeout:.0f} s:\n{self.log_tail('api-server')}")

    def log_tail(self, component: str, chars: int = 3000) -> str:
        path = self.home / f"{component}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def token(self, user: str) -> str:
        req = urllib.request.Request(f"{self.url}/auth/token", method="POST",
                                     data=json.dumps({"username": user, "password": PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())["access_token"]

    def request(self, method: str, path: str, token: str | None = None, body: dict | None = None):
        """(status, parsed JSON or text) of a request to the API server."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(f"{self.url}{path}", method=method, headers=headers,
                                     data=json.dumps(body).encode() if body is not None else None)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                status, raw = r.status, r.read()
        except urllib.error.HTTPError as err:
            status, raw = err.code, err.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def stop(self) -> None:
        import signal

        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
