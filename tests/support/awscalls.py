"""Every AWS call a piece of code makes, as botocore sends it: (principal kind, "service:Operation").

The kind is where the pipeline stands when it calls: ``management`` (its own principal: the core's
management clients and the Amazon provider's hooks alike), ``member`` (the pipeline role assumed in
a member account), or ``as <role arn>`` (a role the pipeline assumes to act as someone else, such as
the end user of the catalog smoke test, whose permissions are not the pipeline's).
"""

from __future__ import annotations

import threading

from botocore.client import BaseClient

from fleet.aws import AwsContext


class CallRecorder:
    def __init__(self, monkeypatch, ignore_threads: tuple[str, ...] = ("approver",)):
        self.calls: set[tuple[str, str]] = set()
        self._lock = threading.Lock()
        self.ignore_threads = ignore_threads
        real_call, real_client = BaseClient._make_api_call, AwsContext._cached_client
        recorder = self

        def make_api_call(client, operation_name, api_params):
            if threading.current_thread().name not in recorder.ignore_threads:
                principal = getattr(client, "_fleet_principal", None)
                kind = ("management" if principal is None else
                        "member" if str(principal).isdigit() else f"as {principal}")
                with recorder._lock:
                    recorder.calls.add((kind, f"{client.meta.service_model.signing_name}:{operation_name}"))
            return real_call(client, operation_name, api_params)

        def cached_client(ctx, service, principal, region, creds):
            client = real_client(ctx, service, principal, region, creds)
            client._fleet_principal = principal
            return client

        monkeypatch.setattr(BaseClient, "_make_api_call", make_api_call)
        monkeypatch.setattr(AwsContext, "_cached_client", cached_client)

    def of(self, kind: str) -> set[str]:
        return {call for k, call in self.calls if k == kind}
