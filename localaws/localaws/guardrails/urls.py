"""Which requests the guardrail services answer: the SigV4 signing service, the HTTP method and
the path of each operation (botocore's ``requestUri``), as moto's ``urls.py`` map theirs."""

from __future__ import annotations

from typing import Any, Callable

from localaws import request

from . import guardduty, macie, securityhub
from .exceptions import ServiceError

Handler = Callable[[str, str, str, dict[str, Any]], dict[str, Any]]  # (account, region, partition, params)

# (signing service, method, path) -> (operation, handler)
ROUTES: dict[tuple[str, str, str], tuple[str, Handler]] = {
    ("guardduty", "POST", "/detector"): ("CreateDetector", guardduty.create_detector),
    ("securityhub", "POST", "/accounts"): ("EnableSecurityHub", securityhub.enable_security_hub),
    ("securityhub", "DELETE", "/accounts"): ("DisableSecurityHub", securityhub.disable_security_hub),
    ("securityhub", "GET", "/standards"): ("DescribeStandards", securityhub.describe_standards),
    ("securityhub", "POST", "/standards/register"): ("BatchEnableStandards", securityhub.batch_enable_standards),
    ("securityhub", "POST", "/standards/deregister"): ("BatchDisableStandards", securityhub.batch_disable_standards),
    ("securityhub", "POST", "/standards/get"): ("GetEnabledStandards", securityhub.get_enabled_standards),
    ("macie2", "POST", "/macie"): ("EnableMacie", macie.enable_macie),
    ("macie2", "GET", "/macie"): ("GetMacieSession", macie.get_macie_session),
    ("macie2", "PATCH", "/macie"): ("UpdateMacieSession", macie.update_macie_session),
    ("macie2", "DELETE", "/macie"): ("DisableMacie", macie.disable_macie),
}
# Query-string members (botocore "location": "querystring"); lists repeat the key.
QUERY_LISTS = {"Providers"}
# Each service's error for a malformed request, and for a fault of ours (service-2.json shapes).
BAD_INPUT: dict[str, Callable[[str], ServiceError]] = {
    "guardduty": guardduty.bad_request, "securityhub": securityhub.invalid_input, "macie2": macie.validation}

def route(environ: dict[str, Any]) -> tuple[str, Handler] | None:
    """(operation, handler) for a request we answer; None for everything moto answers."""
    service = request.signed_service(environ)
    if service not in ("guardduty", "securityhub", "macie2"):
        return None
    path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
    return ROUTES.get((service, environ.get("REQUEST_METHOD", ""), path))
