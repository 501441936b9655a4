"""Helpers the test suites import (conftest.py files are for fixtures, and are never imported)."""

from __future__ import annotations

import json
import os


def aws_connection(endpoint_url: str) -> str:
    """An Airflow AWS connection (JSON) to local AWS, with the session's dummy credentials."""
    return json.dumps({"conn_type": "aws", "login": os.environ["AWS_ACCESS_KEY_ID"],
                       "password": os.environ["AWS_SECRET_ACCESS_KEY"],
                       "extra": {"endpoint_url": endpoint_url, "region_name": "us-east-1"}})
