"""The WSGI face of the Service Catalog extension (JSON 1.1 protocol): parse, dispatch, answer.

Answers are JSON, errors ``{"__type": <code>, "message": ...}`` with HTTP 400. Which requests are
ours is ``urls.py``'s to say; anything else falls through to moto untouched.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Iterable

from localaws import request

from . import account_factory, urls
from .exceptions import InvalidParametersException, ServiceCatalogError
from .models import Catalog
from .registry import OPERATIONS

log = logging.getLogger(__name__)

_STATUS = {200: "200 OK", 400: "400 Bad Request", 500: "500 Internal Server Error"}


class ServiceCatalogExtension:
    """Serves the Service Catalog operations moto lacks, over the process's catalog (moto's backends)."""

    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog if catalog is not None else Catalog()

    def matches(self, environ: dict[str, Any]) -> bool:
        return urls.operation_of(environ) is not None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        name = urls.operation_of(environ)
        request_id = str(uuid.uuid4())
        try:
            if name is None:
                raise InvalidParametersException("Unknown operation.")
            params = self._params(environ)
            caller = request.caller(environ)
            self.catalog.endpoint_url = _endpoint(environ)
            account_factory.prepare(self.catalog, caller, name, params)
            handler = OPERATIONS[name]
            if getattr(handler, "locked", True):
                with self.catalog.lock:
                    result = handler(self.catalog, caller, params)
            else:
                result = handler(self.catalog, caller, params)
            status, body = 200, result
        except ServiceCatalogError as exc:
            status, body = exc.status, {"__type": exc.code, "message": exc.message}
        except Exception as exc:  # noqa: BLE001 - a bug must answer, not hang the client
            log.exception("servicecatalog %s failed", name)
            status, body = 500, {"__type": "InternalFailure", "message": f"{type(exc).__name__}: {exc}"}
        payload = json.dumps(body).encode("utf-8")
        start_response(
            _STATUS[status],
            [
                ("Content-Type", "application/x-amz-json-1.1"),
                ("Content-Length", str(len(payload))),
                ("x-amzn-RequestId", request_id),
            ],
        )
        return [payload]

    @staticmethod
    def _params(environ: dict[str, Any]) -> dict[str, Any]:
        raw = request.peek_body(environ)
        if not raw.strip():
            return {}
        try:
            params = json.loads(raw)
        except ValueError as exc:
            raise InvalidParametersException(f"Request body is not JSON: {exc}") from exc
        if not isinstance(params, dict):
            raise InvalidParametersException("Request body must be a JSON object.")
        return params


def _endpoint(environ: dict[str, Any]) -> str:
    """This server's own endpoint, as a client on this host reaches it."""
    host = environ.get("SERVER_NAME") or "127.0.0.1"
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"  # bound to every interface: loopback reaches it
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{environ.get('SERVER_PORT', '80')}"
