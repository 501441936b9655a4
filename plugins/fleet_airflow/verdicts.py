"""Failing a task with a verdict."""

from __future__ import annotations


def fail(message: str):
    """Fail the task without retries: a verdict (findings, failed checks, a halted rollout, a bad
    config) cannot change by retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    raise AirflowFailException(message)
