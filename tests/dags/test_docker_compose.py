"""docker-compose.yaml keeps the official Airflow 3.3 CeleryExecutor shape plus local AWS.

Docker cannot run on the development machines, so the file's structure is what is checked here.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
AIRFLOW = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
           "airflow-worker", "airflow-init"]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO / "docker-compose.yaml").read_text())


def test_every_service_of_the_celery_shape_and_local_aws(compose):
    assert set(compose["services"]) == {"postgres", "redis", "local-aws", *AIRFLOW}


def test_airflow_services_share_one_environment_with_the_celery_executor(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://") and "@postgres/" in env[
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in env["AIRFLOW__CELERY__BROKER_URL"]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    for name in AIRFLOW:
        service = compose["services"][name]
        assert service["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name
        assert service["image"] == compose["x-airflow-common"]["image"], name


def test_the_common_environment_of_the_official_file(compose):
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://") and "@postgres/" in env[
        "AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"
    assert env["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "true"  # the scheduler's healthcheck needs it
    assert compose["x-airflow-common"]["build"]["dockerfile"] == "docker/Dockerfile"
    # The UI users (admin first, then the approvers: tests/ui/test_ui_users.py), SimpleAuthManager
    # with its password file where airflow-init writes it.
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].startswith("${FLEET_UI_USERS:-airflow:admin,")
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"].startswith("/opt/airflow/config/")


def test_components_run_their_commands(compose):
    s = compose["services"]
    assert s["airflow-apiserver"]["command"] == "api-server" and "8080:8080" in s["airflow-apiserver"]["ports"]
    assert s["airflow-scheduler"]["command"] == "scheduler"
    assert s["airflow-dag-processor"]["command"] == "dag-processor"
    assert s["airflow-triggerer"]["command"] == "triggerer"
    assert s["airflow-worker"]["command"] == "celery worker"
    init = "\n".join(s["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert 'pools set fleet_prod_rollout 1 ' in init and 'pools set fleet_account_ops 5 ' in init
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] in init
    assert s["airflow-init"]["user"] == "0:0" and "chown" in init  # as the official init: fix volume owners


def test_every_pool_is_created_by_compose_and_make_up(compose):
    """The pools table (fleet_airflow.pools) is what compose's init and `make up` create, slot for slot."""
    import shlex

    from fleet_airflow.pools import POOLS

    init = "\n".join(compose["services"]["airflow-init"]["command"])
    up = (REPO / "scripts" / "up.sh").read_text()
    assert {p.name for p in POOLS} >= {"fleet_prod_rollout", "fleet_account_ops"}
    for pool in POOLS:
        for where, text in (("docker-compose.yaml", init), ("scripts/up.sh", up)):
            line = next((ln for ln in text.splitlines() if f"pools set {pool.name} " in ln), None)
            assert line is not None, f"{where} does not create pool {pool.name}"
            args = shlex.split(line.split(">")[0])
            at = args.index("pools")
            assert args[at:at + 4] == ["pools", "set", pool.name, str(pool.slots)], (where, args)
            assert ("--include-deferred" in args) == pool.include_deferred, (where, pool.name)


def test_dags_plugins_and_include_are_mounted(compose):
    volumes = compose["x-airflow-common"]["volumes"]
    for folder in ("dags", "plugins", "include"):
        assert f"./{folder}:/opt/airflow/{folder}" in volumes
        assert (REPO / folder).is_dir()
    for folder in ("logs", "config"):
        assert f"./{folder}:/opt/airflow/{folder}" in volumes
    for name in AIRFLOW:
        assert compose["services"][name]["volumes"] == volumes, name
    assert "/opt/airflow/plugins" in compose["x-airflow-common"]["environment"]["PYTHONPATH"]


def test_local_aws_serves_the_seeded_org_and_the_connection_points_at_it(compose):
    local = compose["services"]["local-aws"]
    command = " ".join(local["entrypoint"])
    assert "-m localaws serve" in command and "--host 0.0.0.0" in command and "--port 4566" in command
    assert "--config /opt/airflow/include/fleet.yaml" in command and "_localaws/health" in " ".join(
        local["healthcheck"]["test"])
    conn = compose["x-airflow-common"]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"]
    assert '"endpoint_url": "http://local-aws:4566"' in conn
    for name in AIRFLOW:
        assert compose["services"][name]["depends_on"]["local-aws"]["condition"] == "service_healthy", name
        assert compose["services"][name]["environment"]["AIRFLOW_CONN_AWS_DEFAULT"] == conn, name
    # Published for `fleet approve` from the host, on loopback only.
    assert all(p.startswith("127.0.0.1:") for p in local.get("ports", []))
    # Local AWS is its own package: mounted and imported from there, the product's code is not.
    assert "./include:/opt/airflow/include" in local["volumes"] and "./localaws:/opt/localaws" in local["volumes"]
    assert local["environment"]["PYTHONPATH"] == "/opt/localaws"
    assert not any("plugins" in v for v in local["volumes"])


def test_start_order_and_healthchecks(compose):
    s = compose["services"]
    for name in ("postgres", "redis", "local-aws", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        assert s[name]["healthcheck"]["test"], name
    for name in AIRFLOW[:-1]:
        deps = s[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name


def test_no_literal_secret_in_the_file(compose):
    text = (REPO / "docker-compose.yaml").read_text()
    # No shared approval key anywhere: approvers sign with their own keys, the pipeline holds public keys.
    assert "FLEET_APPROVAL" not in text
    assert compose["x-airflow-common"]["environment"]["FLEET_REPO"] == "/opt/airflow/fleet-repo"
    assert "./.demo/fleet-repo:/opt/airflow/fleet-repo:ro" in compose["x-airflow-common"]["volumes"]
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()
    init_env = compose["services"]["airflow-init"]["environment"]
    assert init_env["_AIRFLOW_WWW_USER_PASSWORD"] == "${_AIRFLOW_WWW_USER_PASSWORD:-}"  # no default password
    assert compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__FERNET_KEY"].startswith("${")
    example = (REPO / "docker" / "env.example").read_text()
    assert "FLEET_APPROVAL_KEY" not in example and re.search(r"^_AIRFLOW_WWW_USER_PASSWORD=$", example, re.M)


def test_every_dollar_is_an_interpolation_or_escaped():
    """Compose interpolates every $: a shell's $VAR or $(cmd) must be written $$ in the file."""
    text = (REPO / "docker-compose.yaml").read_text()
    bare = re.findall(r"(?<!\$)\$(?!\$|\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\})", text.replace("$$", ""))
    assert bare == []


def test_the_image_installs_the_pinned_requirements():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    assert "-r /opt/fleet/requirements.txt -r /opt/fleet/requirements-celery.txt \\\n    -c /opt/fleet/constraints.txt" \
        in dockerfile
    assert "apache-airflow==3.3.2" in (REPO / "requirements.txt").read_text().splitlines()
    assert "install_tools.py --dest /home/airflow/.local/bin" in dockerfile  # writable by the airflow user
    assert re.search(r"^USER airflow$", dockerfile, re.M)  # back to the image's user after apt-get


def test_drivers_and_timeouts_match_the_tested_celery_stack(compose):
    """What `make up-celery` runs in CI (scripts/celery_stack.py) is what the compose file sets."""
    env = compose["x-airflow-common"]["environment"]
    stack = (REPO / "scripts" / "celery_stack.py").read_text()
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql+psycopg2://")
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"].startswith("postgresql+asyncpg://")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql+psycopg://")
    assert 'self.sql_url("asyncpg")' in stack and '"db+" + self.sql_url("psycopg")' in stack
    for name in ("AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT",
                 "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT", "AIRFLOW__API_AUTH__JWT_SECRET"):
        assert name in env and f'"{name}"' in stack, name
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"].startswith("${AIRFLOW_JWT_SECRET:?")
    pins = (REPO / "requirements-celery.txt").read_text().split()
    constraints = (REPO / "constraints.txt").read_text().split()
    for pin in ("apache-airflow-providers-celery==3.26.0", "celery==5.6.3", "kombu==5.6.2", "redis==6.4.0",
                "psycopg2-binary==2.9.13", "asyncpg==0.32.0"):
        assert pin in pins and pin in constraints, pin
    assert "psycopg[binary]==3.3.9" in pins and "psycopg==3.3.9" in constraints


def test_make_up_script():
    """scripts/up.sh: local AWS, standalone on .demo/airflow, the approval key made once, cleanup on exit."""
    up = REPO / "scripts" / "up.sh"
    subprocess.run(["bash", "-n", str(up)], check=True)
    text = up.read_text()
    assert '"$BIN/localaws" up --port "$AWS_PORT" --config include/fleet.yaml --state-dir "$DEMO/localaws"' in text
    assert '"$BIN/localaws" down' in text and "trap cleanup EXIT" in text
    assert "export AIRFLOW_HOME=$DEMO/airflow" in text and "AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags" in text
    assert "AIRFLOW__CORE__LOAD_EXAMPLES=False" in text and "standalone" in text
    assert "AIRFLOW_CONN_AWS_DEFAULT=" in text and "endpoint_url" in text
    # Per-approver keys: made by scripts/demo_keys.py, the DAG offering the copy that lists them; no shared key.
    assert 'FLEET_REPO=$("$BIN/python" scripts/demo_keys.py)' in text and "export FLEET_REPO" in text
    assert "FLEET_APPROVAL" not in text and "--key .demo/keys/platform-lead" in text


def test_demo_keys_are_owner_only_per_approver_and_the_demo_repo_lists_them(tmp_path):
    """What `make demo` / `make up` run on (scripts/demo_keys.py), made here in a temp folder."""
    import importlib.util

    from fleet import approval, sshkeys
    from fleet.config import load_config

    spec = importlib.util.spec_from_file_location("demo_keys", REPO / "scripts" / "demo_keys.py")
    demo_keys = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo_keys)
    repo = demo_keys.prepare(tmp_path)
    keys = tmp_path / "keys"
    assert (keys.stat().st_mode & 0o777) == 0o700
    approvers = load_config(repo / "fleet.yaml").approval.approvers
    sample = {a.name: a.public_key for a in load_config(REPO / "include" / "fleet.yaml").approval.approvers}
    for a in approvers:
        assert ((keys / a.name).stat().st_mode & 0o777) == 0o600
        assert a.public_key != sample[a.name]  # the sample's keys have no private half anywhere
        record = approval.sign({"decision": "approve"}, sshkeys.load_private_key(keys / a.name))
        assert approval.signature_valid(record, a.public_key)
    assert demo_keys.prepare(tmp_path).joinpath("fleet.yaml").read_text() == (repo / "fleet.yaml").read_text()
    assert subprocess.run(["git", "-C", str(repo), "status", "--porcelain"], capture_output=True,
                          text=True).stdout == ""  # a clean commit: the Source stage records it
    # No private key is tracked anywhere in this repository, and .demo/ (where the demo keeps them) is ignored.
    tracked = subprocess.run(["git", "-C", str(REPO), "grep", "-lE", "^-----BEGIN [A-Z ]*PRIVATE KEY-----$"], capture_output=True,
                             text=True).stdout.split()
    assert tracked == [], tracked
    assert ".demo/" in (REPO / ".gitignore").read_text().split()


def test_make_up_and_make_demo_do_not_share_or_keep_stale_airflow_state():
    """Local AWS starts fresh on both; so does each one's Airflow metadata, in homes of their own."""
    up = (REPO / "scripts" / "up.sh").read_text()
    demo = (REPO / "scripts" / "demo.py").read_text()
    assert '"$BIN/airflow" db reset --yes' in up and '"$BIN/airflow" db migrate' not in up
    assert 'DEMO_HOME = DEMO / "airflow-demo"' in demo and '"AIRFLOW_HOME": str(DEMO_HOME)' in demo
    assert '"db", "reset", "--yes"' in demo
