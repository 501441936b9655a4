"""Deployment settings that Airflow imports by name from its configuration."""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    """``[core] hostname_callable``: FLEET_HOSTNAME when set, else the machine's FQDN.

    Two Celery workers on one machine (`make up-celery`, the Celery test) would otherwise record the
    same hostname on every task instance, and their logs could not be told apart or fetched from the
    right log server.
    """
    return os.environ.get("FLEET_HOSTNAME") or socket.getfqdn()
