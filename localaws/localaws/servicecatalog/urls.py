"""Which requests the Service Catalog extension answers: ``POST /`` with
``X-Amz-Target: AWS242ServiceCatalogService.<Operation>`` for an operation in the registry (JSON
1.1 protocol), as moto's ``urls.py`` map a service's requests to its responses."""

from __future__ import annotations

from typing import Any

from . import account_factory, operations  # noqa: F401 - fill the registry
from .registry import OPERATIONS

TARGET_PREFIX = "AWS242ServiceCatalogService."


def operation_of(environ: dict[str, Any]) -> str | None:
    """The operation a request calls, when it is one we serve."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if environ.get("REQUEST_METHOD") != "POST" or not target.startswith(TARGET_PREFIX):
        return None
    name = target[len(TARGET_PREFIX):]
    return name if name in OPERATIONS else None
