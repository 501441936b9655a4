"""The REST-JSON answers shared by the guardrail services (GuardDuty, Security Hub, Macie).

All three use botocore's ``rest-json`` protocol: the operation is the HTTP method and path (see
``urls.py``), the body is JSON, and an error is an HTTP status with the code in the
``x-amzn-ErrorType`` header (which botocore reads before the body). The body members differ per service, as each
service-2.json models its error shapes: GuardDuty ``message`` (and ``type``), Security Hub
``Message`` and ``Code``, Macie ``message``.

The account of a request is the one moto derives from its access key (``localaws.request.caller``:
MOTO_ACCOUNT_ID, the X-Moto-Account-Id header, then the IAM/STS key lookup), the Region the one in
the credential scope.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from localaws import request

from . import urls
from .exceptions import ServiceError

log = logging.getLogger(__name__)
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            409: "Conflict", 429: "Too Many Requests", 500: "Internal Server Error"}


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


_INTERNAL = {"guardduty": "InternalServerErrorException", "securityhub": "InternalException",
             "macie2": "InternalServerException"}


class GuardrailServicesExtension:
    """Answers the operations ``urls.ROUTES`` lists; every other request goes on to moto."""

    def matches(self, environ: dict[str, Any]) -> bool:
        return urls.route(environ) is not None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        service = request.signed_service(environ)
        operation, handler = urls.route(environ)  # type: ignore[misc]
        try:
            caller = request.caller(environ)
            try:
                params = request.json_body(environ)
            except ValueError as exc:
                raise urls.BAD_INPUT[service](f"Request body is not JSON: {exc}") from exc
            for key, values in request.query_string(environ).items():
                params[key] = values if key in urls.QUERY_LISTS else values[-1]
            result = handler(caller.account, caller.region, caller.partition, params)
        except ServiceError as exc:
            return respond_error(start_response, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must answer, not hang the client
            log.exception("%s %s failed", service, operation)
            code, message = _INTERNAL[service], f"{type(exc).__name__}: {exc}"
            return respond(start_response, 500, {"message": message, "Message": message, "Code": code}, code)
        return respond(start_response, 200, result)
