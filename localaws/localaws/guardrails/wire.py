"""The REST-JSON face shared by the guardrail services (GuardDuty, Security Hub, Macie).

All three use botocore's ``rest-json`` protocol: the operation is the HTTP method and path, the
body is JSON, and an error is an HTTP status with the code in the ``x-amzn-ErrorType`` header
(which botocore reads before the body). The body members differ per service, as each
service-2.json models its error shapes: GuardDuty ``message`` (and ``type``), Security Hub
``Message`` and ``Code``, Macie ``message``.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any
from urllib.parse import parse_qs

from localaws.extensions import peek_body

_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


class ServiceError(Exception):
    """An error as the service's API reference lists it for the operation."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any]) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.body = status, code, message, body


def signed_service(environ: dict[str, Any]) -> str | None:
    """The service named in the SigV4 credential scope (how a client addresses local AWS)."""
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    return match.group(1) if match else None


def body_json(environ: dict[str, Any]) -> dict[str, Any]:
    """The JSON body (ValueError when it is not JSON); an empty body is no parameters."""
    raw = peek_body(environ)
    if not raw.strip():
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def query(environ: dict[str, Any]) -> dict[str, list[str]]:
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


def respond(start_response: Any, status: int, body: dict[str, Any], error_type: str | None = None) -> list[bytes]:
    payload = json.dumps(body, default=str).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
               ("x-amzn-RequestId", str(uuid.uuid4()))]
    if error_type:
        headers.append(("x-amzn-ErrorType", error_type))
    start_response(f"{status} {_REASONS.get(status, 'Error')}", headers)
    return [payload]


def respond_error(start_response: Any, error: ServiceError) -> list[bytes]:
    return respond(start_response, error.status, error.body, error.code)
