"""The CeleryExecutor deployment on this machine's PostgreSQL and Redis (`make up-celery`, and the
Celery test in tests/celery/).

Runs what docker-compose.yaml runs, as processes: scheduler, dag-processor, triggerer, api-server and
two Celery workers, plus local AWS. Each component gets its own process group (so stopping it stops
the task processes it started), its own HOME, TMPDIR, AIRFLOW_HOME and FLEET_WORK_DIR (the workers
share no folder: the fleet repo comes as a git URL), and every port is a free one: the api-server's,
the triggerer's log server's and one log server port per worker (two workers on one host otherwise
collide on 8793). One JWT secret is shared by the api-server and the workers (the Execution API's
tokens), one Fernet key by everyone.

    python scripts/celery_stack.py                 # up until Ctrl-C; prints the URLs and commands
    FLEET_PG_DB=fleet_celery FLEET_REDIS_DB=11 ... # the database and Redis db number of its own

Settings (environment): FLEET_PG_HOST/PORT/USER (127.0.0.1, 5432, postgres), FLEET_PG_DB (fleet_celery,
created if missing), FLEET_REDIS_URL (redis://127.0.0.1:6379), FLEET_REDIS_DB (11, flushed at start:
it is this stack's own), FLEET_HEARTBEAT_TIMEOUT (the scheduler's task_instance_heartbeat_timeout,
seconds; Airflow's default 300), FLEET_VISIBILITY_TIMEOUT (the Redis broker's, seconds; default 3600).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


class StackError(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_services(pg: dict, redis_url: str) -> None:
    """Fail with a clear message when PostgreSQL or Redis is not reachable (never a skip)."""
    problems = []
    for name, host, port in (("PostgreSQL", pg["host"], pg["port"]),
                             ("Redis", *_host_port(redis_url))):
        try:
            socket.create_connection((host, int(port)), timeout=3).close()
        except OSError as exc:
            problems.append(f"{name} is not reachable on {host}:{port} ({exc})")
    if problems:
        raise StackError("the Celery deployment needs this machine's PostgreSQL and Redis: "
                         + "; ".join(problems) + " (start them, or set FLEET_PG_HOST/FLEET_PG_PORT/FLEET_REDIS_URL)")


def _host_port(url: str) -> tuple[str, int]:
    rest = url.split("://", 1)[1].rsplit("@", 1)[-1].split("/", 1)[0]
    host, _, port = rest.partition(":")
    return host or "127.0.0.1", int(port or 6379)


@dataclass
class Component:
    name: str
    argv: list[str]
    env: dict[str, str]
    home: Path
    proc: subprocess.Popen | None = None

    def start(self) -> None:
        log = open(self.home / "component.log", "ab")
        # A process group of its own: stopping the component stops the task processes it forked.
        self.proc = subprocess.Popen(self.argv, env=self.env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        log.close()

    @property
    def pgid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def stop(self, grace: float = 15.0) -> None:
        if self.proc is None or self.proc.poll() is not None:
            self._kill_group(signal.SIGKILL)  # whatever it left behind in its group
            return
        self._kill_group(signal.SIGTERM)
        try:
            self.proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        self._kill_group(signal.SIGKILL)
        self.proc.wait(5)

    def _kill_group(self, sig: int) -> None:
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class CeleryStack:
    base: Path
    pg_db: str = "fleet_celery"
    redis_db: int | None = 11  # None: claim a free one (the test: runs at once must not share one)
    workers: int = 2
    heartbeat_timeout: int = 300
    visibility_timeout: int = 3600
    extra_env: dict[str, str] = field(default_factory=dict)
    components: list[Component] = field(default_factory=list)
    api_port: int = 0
    aws_port: int = 0
    log_ports: dict[str, int] = field(default_factory=dict)

    @property
    def pg(self) -> dict:
        return {"host": os.environ.get("FLEET_PG_HOST", "127.0.0.1"), "port": int(os.environ.get("FLEET_PG_PORT", 5432)),
                "user": os.environ.get("FLEET_PG_USER", "postgres")}

    @property
    def redis_url(self) -> str:
        return os.environ.get("FLEET_REDIS_URL", "redis://127.0.0.1:6379").rstrip("/")

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def aws_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.aws_port}"

    def sql_url(self, driver: str) -> str:
        pg = self.pg
        return f"postgresql+{driver}://{pg['user']}@{pg['host']}:{pg['port']}/{self.pg_db}"

    # -- start ------------------------------------------------------------------------------------
    def up(self) -> CeleryStack:
        check_services(self.pg, self.redis_url)
        self.base.mkdir(parents=True, exist_ok=True)
        self._database()
        if self.redis_db is None:
            self._claim_redis_db()
        else:
            self._flush_redis()
        self.api_port = free_port()
        self.aws_port = free_port()
        self._local_aws()
        shared = self._shared_env()
        self._run(["airflow", "db", "migrate"], shared, "migrate")
        self._run(["airflow", "pools", "set", "fleet_prod_rollout", "1", "prod rollouts at once"], shared, "pools")
        self._run(["airflow", "pools", "set", "fleet_account_ops", "5", "account operations at once",
                   "--include-deferred"], shared, "pools")
        self._add("api-server", ["airflow", "api-server", "--host", "127.0.0.1", "--port", str(self.api_port)], shared)
        self._add("scheduler", ["airflow", "scheduler"], shared)
        self._add("dag-processor", ["airflow", "dag-processor"], shared)
        self.log_ports["triggerer"] = free_port()
        self._add("triggerer", ["airflow", "triggerer"], shared,
                  {"AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(self.log_ports["triggerer"])})
        for i in range(1, self.workers + 1):
            name = f"worker{i}"
            self.log_ports[name] = free_port()
            self._add(name, ["airflow", "celery", "worker", "--celery-hostname", f"{name}@%h", "--concurrency", "4"],
                      shared, {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.log_ports[name]),
                               "FLEET_HOSTNAME": f"{socket.gethostname()}-{name}"})
        for c in self.components:
            c.start()
        self._wait_api()
        return self

    def _home(self, name: str) -> Path:
        home = self.base / name
        for sub in ("tmp", "work", "airflow"):
            (home / sub).mkdir(parents=True, exist_ok=True)
        return home

    def _component_env(self, shared: dict, home: Path, extra: dict | None = None) -> dict:
        return {**shared, "HOME": str(home), "TMPDIR": str(home / "tmp"), "AIRFLOW_HOME": str(home / "airflow"),
                "FLEET_WORK_DIR": str(home / "work"), "FLEET_GIT_CACHE": str(home / "git"), **(extra or {})}

    def _add(self, name: str, argv: list[str], shared: dict, extra: dict | None = None) -> None:
        home = self._home(name)
        self.components.append(Component(name, [str(BIN / argv[0]), *argv[1:]],
                                         self._component_env(shared, home, extra), home))

    def _run(self, argv: list[str], shared: dict, name: str) -> None:
        home = self._home(name)
        done = subprocess.run([str(BIN / argv[0]), *argv[1:]], env=self._component_env(shared, home),
                              capture_output=True, text=True, cwd=home)
        if done.returncode:
            raise StackError(f"`{' '.join(argv)}` failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")

    def _shared_env(self) -> dict[str, str]:
        from cryptography.fernet import Fernet

        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.update({
            "PATH": f"{BIN}:{env.get('PATH', '')}",
            "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.sql_url("psycopg2"),
            # Airflow 3.3 also builds an async engine: asyncpg for the same database.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": self.sql_url("asyncpg"),
            "AIRFLOW__CELERY__BROKER_URL": f"{self.redis_url}/{self.redis_db}",
            # psycopg 3 named explicitly: under SQLAlchemy 2.1 a bare db+postgresql:// means it anyway.
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + self.sql_url("psycopg"),
            # A task message stays unacked in Redis while its task runs (acks_late); a worker that dies
            # leaves it there, and Redis hands it out again after this long. Longer than any task.
            "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": str(self.visibility_timeout),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(self.heartbeat_timeout),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "fleet_airflow.deployment.hostname",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_urlsafe(32),
            "AIRFLOW__API__SECRET_KEY": secrets.token_urlsafe(32),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "PYTHONPATH": str(REPO / "plugins"),
            "AWS_EC2_METADATA_DISABLED": "true",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps({
                "conn_type": "aws", "login": "testing", "password": "testing",
                "extra": {"endpoint_url": self.aws_endpoint, "region_name": "us-east-1"}}),
        })
        env.update(self.extra_env)
        return env

    def _database(self) -> None:
        import psycopg2

        pg = self.pg
        conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.pg_db,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE DATABASE "{self.pg_db}"')
        conn.close()

    def drop_database(self) -> None:
        import psycopg2

        pg = self.pg
        conn = psycopg2.connect(host=pg["host"], port=pg["port"], user=pg["user"], dbname="postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{self.pg_db}" WITH (FORCE)')
        conn.close()

    def redis(self):
        import redis

        return redis.Redis.from_url(f"{self.redis_url}/{self.redis_db}")

    _CLAIM = "fleet-celery-stack:claimed-by"
    _claimed: bool = False

    def _claim_redis_db(self) -> None:
        """An empty Redis db number, marked as this stack's until it stops (or for two hours)."""
        import redis

        for db in (*range(12, 16), *range(8, 11)):
            r = redis.Redis.from_url(f"{self.redis_url}/{db}")
            if r.set(self._CLAIM, f"{socket.gethostname()}:{os.getpid()}", nx=True, ex=7200):
                if r.dbsize() == 1:
                    self.redis_db, self._claimed = db, True
                    return
                r.delete(self._CLAIM)  # someone else's data is there
        raise StackError(f"no empty Redis db number among 8-10 and 12-15 on {self.redis_url}")

    def _flush_redis(self) -> None:
        self.redis().flushdb()  # this stack's own db number: stale messages of an earlier session

    def _local_aws(self) -> None:
        done = subprocess.run([str(BIN / "localaws"), "up", "--port", str(self.aws_port), "--config",
                               str(REPO / "include" / "fleet.yaml"), "--state-dir", str(self.base / "localaws")],
                              capture_output=True, text=True)
        if done.returncode:
            raise StackError(f"local AWS did not start:\n{done.stdout}\n{done.stderr}")

    def _wait_api(self, timeout: float = 180) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            for c in self.components:
                if c.proc.poll() is not None:
                    raise StackError(f"{c.name} exited with {c.proc.returncode}; its log:\n{self.log_tail(c.name)}")
            try:
                with urllib.request.urlopen(f"{self.api_url}/api/v2/monitor/health", timeout=2):
                    return
            except OSError:
                time.sleep(1)
        raise StackError(f"the api-server did not answer in {timeout:.0f} s:\n{self.log_tail('api-server')}")

    def log_tail(self, name: str, chars: int = 4000) -> str:
        path = self.base / name / "component.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else "(no log)"

    def component(self, name: str) -> Component:
        return next(c for c in self.components if c.name == name)

    # -- stop ---------------------------------------------------------------------------------------
    def down(self) -> None:
        # Workers first (their tasks stop with them), the scheduler last but one, the api-server last.
        order = [c for c in self.components if c.name.startswith("worker")] + \
                [c for c in self.components if not c.name.startswith("worker") and c.name != "api-server"] + \
                [c for c in self.components if c.name == "api-server"]
        for c in order:
            c.stop()
        subprocess.run([str(BIN / "localaws"), "down", "--state-dir", str(self.base / "localaws")],
                       capture_output=True)
        if self._claimed:
            self.redis().flushdb()  # the messages and the claim: the db number is free again
            self._claimed = False

    def __enter__(self) -> CeleryStack:
        try:
            return self.up()
        except BaseException:
            self.down()
            raise

    def __exit__(self, *exc) -> None:
        self.down()


def main() -> int:
    base = Path(os.environ.get("FLEET_CELERY_DIR", REPO / ".celery"))
    if base.exists():
        shutil.rmtree(base)  # component homes of an earlier session: per-session, like containers
    stack = CeleryStack(base, pg_db=os.environ.get("FLEET_PG_DB", "fleet_celery"),
                        redis_db=int(os.environ.get("FLEET_REDIS_DB", 11)),
                        heartbeat_timeout=int(os.environ.get("FLEET_HEARTBEAT_TIMEOUT", 300)),
                        visibility_timeout=int(os.environ.get("FLEET_VISIBILITY_TIMEOUT", 3600)))
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        stack.up()
        print(f"""==> Airflow (CeleryExecutor) api-server and UI: {stack.api_url} (every user is admin: local only)
==> metadata DB {stack.sql_url('psycopg2')}, broker {stack.redis_url}/{stack.redis_db}
==> log server ports: {', '.join(f'{k} {v}' for k, v in stack.log_ports.items())}
==> components' homes and logs: {base}/<component>/ (component.log)
==> local AWS: {stack.aws_endpoint}; approve a run waiting at prod.approval with:
    AWS_ENDPOINT_URL={stack.aws_endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \\
    AWS_DEFAULT_REGION=us-east-1 \\
    .venv/bin/fleet approve RUN_ID --approver platform-lead --key .demo/keys/platform-lead
    (a run of fleet_repo file://{REPO}/.demo/fleet-repo: `python3 scripts/demo_keys.py` makes it and the keys)
==> Ctrl-C stops everything this started.""", flush=True)
        while not stopping:
            for c in stack.components:
                if c.proc.poll() is not None:
                    print(f"{c.name} exited with {c.proc.returncode}:\n{stack.log_tail(c.name)}", file=sys.stderr)
                    return 1
            time.sleep(1)
        return 0
    except KeyboardInterrupt:
        return 130
    except StackError as exc:
        print(f"up-celery: {exc}", file=sys.stderr)
        return 1
    finally:
        stack.down()


if __name__ == "__main__":
    sys.exit(main())
