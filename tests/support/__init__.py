"""Helpers the test suites import. conftest.py files hold fixtures only and are never imported
(tests/dags/test_suite_rules.py enforces it): a helper two files share lives in this package."""

from __future__ import annotations

import json
import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def aws_connection(endpoint_url: str) -> str:
    """An Airflow AWS connection (JSON) to local AWS, with the session's dummy credentials."""
    return json.dumps({"conn_type": "aws", "login": os.environ["AWS_ACCESS_KEY_ID"],
                       "password": os.environ["AWS_SECRET_ACCESS_KEY"],
                       "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"}})
