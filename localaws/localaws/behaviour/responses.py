"""Writing AWS answers for the behaviour extension: errors in each protocol's wire format (as
botocore parses them), and moto's own answer collected so it can be inspected or replaced.
Reading the request is ``localaws.request``'s job."""

from __future__ import annotations

import json
import uuid
from typing import Any, Iterable
from xml.sax.saxutils import escape

Response = tuple[str, list[tuple[str, str]], bytes]

def request_id() -> str:
    return str(uuid.uuid4())


def json_response(payload: Any, status: str = "200 OK") -> Response:
    body = json.dumps(payload).encode()
    return status, [("Content-Type", "application/x-amz-json-1.1"), ("x-amzn-RequestId", request_id())], body


def xml_response(action: str, result: str = "", namespace: str = "") -> Response:
    ns = f' xmlns="{namespace}"' if namespace else ""
    inner = f"<{action}Result>{result}</{action}Result>" if result else ""
    body = (f"<{action}Response{ns}>{inner}<ResponseMetadata><RequestId>{request_id()}</RequestId>"
            f"</ResponseMetadata></{action}Response>").encode()
    return "200 OK", [("Content-Type", "text/xml")], body


_REASONS = {400: "Bad Request", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable"}


def error(kind: str, status: int, code: str, message: str) -> Response:
    """An AWS error in the wire format of protocol ``kind``, as botocore parses it."""
    line = f"{status} {_REASONS.get(status, 'Error')}"
    rid = request_id()
    if kind in ("json", "rest-json"):
        body = json.dumps({"__type": code, "Message": message}).encode()
        content = "application/x-amz-json-1.1" if kind == "json" else "application/json"
        return line, [("Content-Type", content), ("x-amzn-RequestId", rid), ("x-amzn-ErrorType", code)], body
    if kind == "rest-xml":
        body = (f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                f"<Message>{escape(message)}</Message><RequestId>{rid}</RequestId></Error>").encode()
        return line, [("Content-Type", "application/xml"), ("x-amz-request-id", rid)], body
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>{escape(message)}</Message>"
            f"</Error><RequestId>{rid}</RequestId></ErrorResponse>").encode()
    return line, [("Content-Type", "text/xml"), ("x-amzn-RequestId", rid)], body


def send(response: Response, start_response: Any) -> list[bytes]:
    status, headers, body = response
    headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
    start_response(status, [*headers, ("Content-Length", str(len(body)))])
    return [body]


def call(app: Any, environ: dict[str, Any]) -> Response:
    """Run a WSGI app (moto) on this request and collect its whole answer."""
    captured: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        captured["status"], captured["headers"] = status, list(headers)
        return lambda data: captured.setdefault("written", []).append(data)

    result: Iterable[bytes] = app(environ, start_response)
    try:
        body = b"".join(captured.get("written", [])) + b"".join(result)
    finally:
        close = getattr(result, "close", None)
        if close is not None:
            close()
    return captured["status"], captured["headers"], body


def ok(response: Response) -> bool:
    return response[0].startswith("2")
