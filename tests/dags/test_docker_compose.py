"""docker-compose.yaml keeps the official Airflow 3.3 CeleryExecutor shape plus local AWS.

Docker cannot run on the development machines, so the file's structure is what is checked here.
"""

from __future__ import annotations

import re
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


def test_components_run_their_commands(compose):
    s = compose["services"]
    assert s["airflow-apiserver"]["command"] == "api-server" and "8080:8080" in s["airflow-apiserver"]["ports"]
    assert s["airflow-scheduler"]["command"] == "scheduler"
    assert s["airflow-dag-processor"]["command"] == "dag-processor"
    assert s["airflow-triggerer"]["command"] == "triggerer"
    assert s["airflow-worker"]["command"] == "celery worker"
    init = "\n".join(s["airflow-init"]["command"])
    assert "airflow db migrate" in init and "pools set fleet_prod_rollout" in init


def test_dags_plugins_and_include_are_mounted(compose):
    volumes = compose["x-airflow-common"]["volumes"]
    for folder in ("dags", "plugins", "include", "localaws"):
        assert f"./{folder}:/opt/airflow/{folder}" in volumes
        assert (REPO / folder).is_dir()
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


def test_start_order_and_healthchecks(compose):
    s = compose["services"]
    for name in ("postgres", "redis", "local-aws", "airflow-apiserver", "airflow-scheduler",
                 "airflow-dag-processor", "airflow-triggerer", "airflow-worker"):
        assert s[name]["healthcheck"]["test"], name
    for name in AIRFLOW[:-1]:
        deps = s[name]["depends_on"]
        assert deps["postgres"]["condition"] == deps["redis"]["condition"] == "service_healthy", name
        assert deps["airflow-init"]["condition"] == "service_completed_successfully", name


def test_no_literal_secret_in_the_file():
    text = (REPO / "docker-compose.yaml").read_text()
    approval = re.search(r"AIRFLOW_CONN_FLEET_APPROVAL: (.*)", text).group(1)
    assert "${FLEET_APPROVAL_KEY:?" in approval  # from .env, and compose refuses to start without it
    assert "AKIA" not in text and "aws_secret_access_key" not in text.lower()


def test_the_image_installs_the_pinned_requirements():
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert dockerfile.startswith("# ") and "FROM apache/airflow:3.3.2-python3.11" in dockerfile
    assert "-r /opt/fleet/requirements.txt -c /opt/fleet/constraints.txt" in dockerfile
