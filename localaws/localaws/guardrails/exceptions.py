"""The error every guardrail operation raises: what the service's API reference lists for it."""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An error as the service's API reference lists it for the operation."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.body = status, code, message, body
