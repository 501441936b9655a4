"""Answer, as AWS would a client it cannot serve, a request for a service moto has no backend for.

moto's dispatcher raises on such a request and the server answers 500, which botocore retries as a
server fault (ten times in adaptive mode). A 400 with a clear message ends the call at once, so a
caller that handles "not available here" (the IAM gate's Access Analyzer check) says so quickly.
"""

from __future__ import annotations

import json
from typing import Any

from localaws.request import signed_service


class UnsupportedServiceExtension:
    def __init__(self) -> None:
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        # Only its host inference is used: the same rules moto applies to pick a backend.
        self._moto = DomainDispatcherApplication(create_app=None)

    def matches(self, environ: dict[str, Any]) -> bool:
        if signed_service(environ) is None:
            return False
        host = self._moto.infer_service_region_host(environ, environ.get("PATH_INFO", "/"))
        return host is not None and self._moto.get_backend_for_host(host) is None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        service = signed_service(environ)
        body = json.dumps({"__type": "UnrecognizedClientException",
                           "message": f"local AWS does not emulate the {service} API"}).encode()
        start_response("400 Bad Request", [("Content-Type", "application/x-amz-json-1.1"),
                                           ("Content-Length", str(len(body))),
                                           ("x-amzn-ErrorType", "UnrecognizedClientException")])
        return [body]
