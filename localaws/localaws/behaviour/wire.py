"""Reading requests and writing AWS answers for the behaviour extension.

Who a request is for comes from its SigV4 credential scope (``Credential=AKID/date/region/service/
aws4_request``, in the Authorization header or a presigned URL's X-Amz-Credential); the operation
from ``X-Amz-Target`` (JSON protocol) or ``Action`` (query protocol, in the query string or the form
body, read with ``peek_body`` so the body stays for whoever answers).
"""

from __future__ import annotations

import json
import os
import re
import uuid
from dataclasses import dataclass
from typing import Any, Iterable
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from localaws.extensions import peek_body

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

Response = tuple[str, list[tuple[str, str]], bytes]


@dataclass(frozen=True)
class Signed:
    access_key: str
    region: str
    service: str


def signed(environ: dict[str, Any]) -> Signed | None:
    cached = environ.get("localaws.signed", False)
    if cached is not False:
        return cached
    match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    result = None
    if match:
        result = Signed(match.group(1), match.group(2), match.group(3))
    elif "X-Amz-Credential" in environ.get("QUERY_STRING", ""):
        credential = parse_qs(environ["QUERY_STRING"]).get("X-Amz-Credential", [""])[0]
        parts = credential.split("/")
        if len(parts) == 5 and parts[4] == "aws4_request":
            result = Signed(parts[0], parts[2], parts[3])
    environ["localaws.signed"] = result
    return result


def query_params(environ: dict[str, Any]) -> dict[str, str]:
    """A query-protocol request's parameters (form body, else query string), first values."""
    cached = environ.get("localaws.params")
    if cached is not None:
        return cached
    params: dict[str, str] = {}
    content_type = environ.get("CONTENT_TYPE", "")
    if environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in content_type:
        params = {k: v[0] for k, v in parse_qs(peek_body(environ).decode("utf-8", "replace")).items()}
    if "Action" not in params and "Action=" in environ.get("QUERY_STRING", ""):
        params = {k: v[0] for k, v in parse_qs(environ["QUERY_STRING"]).items()}
    environ["localaws.params"] = params
    return params


def json_params(environ: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(peek_body(environ) or b"{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def operation(environ: dict[str, Any]) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    return query_params(environ).get("Action")


def protocol(environ: dict[str, Any], service: str) -> str:
    """json | query | rest-xml | rest-json, as far as the error format goes."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if service == "s3":
        return "rest-xml"
    if query_params(environ).get("Action"):
        return "query"
    return "rest-json"


def members(params: dict[str, str], name: str) -> list[str]:
    """A query-protocol list parameter (``Name.member.1`` ...), in order."""
    prefix = f"{name}.member."
    found = sorted((int(k[len(prefix):]), v) for k, v in params.items()
                   if k.startswith(prefix) and k[len(prefix):].isdigit())
    return [v for _, v in found]


def account_of(environ: dict[str, Any], access_key: str) -> str:
    """The account moto serves a request in: the same precedence as moto's
    BaseResponse.get_current_account (MOTO_ACCOUNT_ID, the x-moto-account-id header, the account
    that owns the access key, moto's default account)."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


# -- answers ----------------------------------------------------------------------------------------
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
