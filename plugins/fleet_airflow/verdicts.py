"""Failing a task with a verdict."""

from __future__ import annotations

# The XCom a failing task leaves its reason in, so the run report names it (a failed try keeps its
# XComs until the next try starts; a verdict has no next try).
REASON_KEY = "fleet_failure"


def fail(message: str):
    """Fail the task without retries: a verdict (findings, failed checks, a halted rollout, a bad
    config) cannot change by retrying."""
    from airflow.sdk.exceptions import AirflowFailException

    _leave_reason(message)
    raise AirflowFailException(message)


def _leave_reason(message: str) -> None:
    try:
        from airflow.sdk import get_current_context

        get_current_context()["ti"].xcom_push(key=REASON_KEY, value=message[:4000])
    except Exception:  # outside a running task (a unit test calling the task's function): nothing to keep
        pass
