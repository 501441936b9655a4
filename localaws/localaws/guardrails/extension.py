"""Routes the guardrail-service operations moto lacks or answers wrongly; the rest goes to moto.

A request is ours when its SigV4 scope names the service and its method and path are one of the
operations below (botocore's ``requestUri`` for each). The account is the one moto derives from the
request's access key (``localaws.servicecatalog.caller``: MOTO_ACCOUNT_ID, the X-Moto-Account-Id
header, then the IAM/STS key lookup), the Region the one in the credential scope.
"""

from __future__ import annotations

import logging
from typing import Any, Callable

from . import guardduty, macie, securityhub
from .wire import ServiceError, body_json, query, respond, respond_error, signed_service

log = logging.getLogger(__name__)

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
_QUERY_LISTS = {"Providers"}
# Each service's error for a malformed request, and for a fault of ours (service-2.json shapes).
_BAD_INPUT: dict[str, Callable[[str], ServiceError]] = {
    "guardduty": guardduty.bad_request, "securityhub": securityhub.invalid_input, "macie2": macie.validation}
_INTERNAL = {"guardduty": "InternalServerErrorException", "securityhub": "InternalException",
             "macie2": "InternalServerException"}


class GuardrailServicesExtension:
    def _route(self, environ: dict[str, Any]) -> tuple[str, Handler] | None:
        service = signed_service(environ)
        if service not in ("guardduty", "securityhub", "macie2"):
            return None
        path = environ.get("PATH_INFO", "/").rstrip("/") or "/"
        return ROUTES.get((service, environ.get("REQUEST_METHOD", ""), path))

    def matches(self, environ: dict[str, Any]) -> bool:
        return self._route(environ) is not None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        from localaws.servicecatalog.caller import caller_from_environ

        service = signed_service(environ)
        operation, handler = self._route(environ)  # type: ignore[misc]
        try:
            caller = caller_from_environ(environ)
            try:
                params = body_json(environ)
            except ValueError as exc:
                raise _BAD_INPUT[service](f"Request body is not JSON: {exc}") from exc
            for key, values in query(environ).items():
                params[key] = values if key in _QUERY_LISTS else values[-1]
            result = handler(caller.account, caller.region, caller.partition, params)
        except ServiceError as exc:
            return respond_error(start_response, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must answer, not hang the client
            log.exception("%s %s failed", service, operation)
            code, message = _INTERNAL[service], f"{type(exc).__name__}: {exc}"
            return respond(start_response, 500, {"message": message, "Message": message, "Code": code}, code)
        return respond(start_response, 200, result)
