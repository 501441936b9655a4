"""The Celery stack refuses to start, with the reason, when PostgreSQL or Redis is not reachable (the
Celery test then fails with that reason: it is never skipped)."""

from __future__ import annotations

import pytest

from tests.support.celery_deploy import celery_stack


def test_unreachable_postgres_and_redis_are_named():
    with pytest.raises(celery_stack.StackError) as err:
        celery_stack.check_services({"host": "127.0.0.1", "port": 1}, "redis://127.0.0.1:2/0")
    message = str(err.value)
    assert "PostgreSQL is not reachable on 127.0.0.1:1" in message
    assert "Redis is not reachable on 127.0.0.1:2" in message and "FLEET_REDIS_URL" in message


def test_the_test_module_checks_before_starting_and_never_skips():
    from pathlib import Path

    text = (Path(__file__).parent / "test_celery_deployment.py").read_text()
    assert "check_services(" in text and "pytest.skip" not in text and "skipif" not in text
