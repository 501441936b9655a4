"""Reading a request: the one place local AWS parses what a client sent.

Who a request is for comes from its SigV4 credential scope (``Credential=AKID/date/region/service/
aws4_request``, in the Authorization header or a presigned URL's X-Amz-Credential); the account
and IAM identity from the access key, resolved as moto resolves them; the operation from
``X-Amz-Target`` (JSON protocol) or ``Action`` (query protocol, in the form body or the query
string). The body is read with ``peek_body``, which leaves it in place for whoever answers, so an
extension can look at a request and still let it fall through to moto. Parsed values are cached
in the WSGI environ: every extension asks, the request is parsed once.
"""

from __future__ import annotations

import io
import json
import os
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
DEFAULT_REGION = "us-east-1"


# -- the body ---------------------------------------------------------------------------------------
def peek_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and leave a fresh stream behind for whoever answers."""
    cached = environ.get("localaws.body")
    if cached is not None:
        return cached
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["localaws.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def json_body(environ: dict[str, Any]) -> dict[str, Any]:
    """The JSON body as an object (ValueError when it is not JSON); an empty body is no parameters."""
    raw = peek_body(environ)
    if not raw.strip():
        return {}
    data = json.loads(raw)
    return data if isinstance(data, dict) else {}


def json_params(environ: dict[str, Any]) -> dict[str, Any]:
    """The JSON body as an object, or no parameters when it is not JSON."""
    try:
        return json_body(environ)
    except ValueError:
        return {}


def query_string(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The URL's query parameters, every value (REST protocols)."""
    return parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)


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


def members(params: dict[str, str], name: str) -> list[str]:
    """A query-protocol list parameter (``Name.member.1`` ...), in order."""
    prefix = f"{name}.member."
    found = sorted((int(k[len(prefix):]), v) for k, v in params.items()
                   if k.startswith(prefix) and k[len(prefix):].isdigit())
    return [v for _, v in found]


# -- the operation ----------------------------------------------------------------------------------
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


# -- who is calling ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    """The SigV4 credential scope of a request."""

    access_key: str
    region: str
    service: str


def signed(environ: dict[str, Any]) -> Signed | None:
    """The request's credential scope; None for an unsigned request."""
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


def signed_service(environ: dict[str, Any]) -> str | None:
    """The service named in the credential scope (how a client addresses local AWS)."""
    scope = signed(environ)
    return scope.service if scope else None


def account_of(environ: dict[str, Any], access_key: str) -> str:
    """The account moto serves a request in: the same precedence as moto's
    BaseResponse.get_current_account (MOTO_ACCOUNT_ID, the x-moto-account-id header, the account
    that owns the access key, moto's default account), so every extension agrees with moto."""
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


@dataclass(frozen=True)
class Caller:
    """Account, region and IAM identity of a request.

    moto maps an access key to its account through IAM; keys minted by STS AssumeRole live in the
    target account's IAM backend with the role ARN attached, which is how assumed-role
    credentials land in a member account. The identity matters as well as the account because
    Service Catalog grants end-user access per IAM principal (portfolio principals).
    """

    account: str
    region: str
    partition: str
    access_key: str
    arn: str  # what GetCallerIdentity would say: assumed-role, user or root ARN
    role_arn: str | None  # the IAM role behind assumed-role credentials

    @property
    def role_name(self) -> str | None:
        return self.role_arn.rsplit("/", 1)[-1] if self.role_arn else None


def caller(environ: dict[str, Any]) -> Caller:
    """Who sent the request (an unsigned one: moto's default account, in us-east-1)."""
    from moto.utilities.utils import get_partition

    scope = signed(environ)
    access_key = scope.access_key if scope else ""
    region = (scope.region if scope else "") or DEFAULT_REGION
    partition = get_partition(region)
    account = account_of(environ, access_key)
    arn, role_arn = _identity(account, partition, access_key)
    return Caller(account, region, partition, access_key, arn, role_arn)


def _identity(account: str, partition: str, access_key: str) -> tuple[str, str | None]:
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    assumed = sts_backends[account][partition].get_assumed_role_from_access_key(access_key)
    if assumed is not None:
        return assumed.arn, assumed.role_arn
    iam = iam_backends[account][partition]
    key = iam.access_keys.get(access_key) if access_key else None
    if key is not None and getattr(key, "role_arn", None):
        return key.role_arn, key.role_arn
    user = iam.get_user_from_access_key_id(access_key) if access_key else None
    if user is not None:
        return user.arn, None
    # Dummy credentials ("testing") act as the account root, as in moto's GetCallerIdentity.
    return f"arn:{partition}:iam::{account}:root", None
