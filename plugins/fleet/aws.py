"""AWS access for the core: one session per account, retry policy, endpoints from the caller.

The management account's session comes from the caller (an Airflow connection through
``fleet_airflow.hooks.FleetAwsHook``, or the environment for the CLI). Member accounts are reached by
assuming the organization's pipeline role; the assumed credentials are cached until shortly before
they expire, so a rollout to 1,000 accounts makes one AssumeRole per account, not one per call.

Both caches are bounded (least recently used first out), so a worker's memory does not grow with the
fleet: a boto3 client costs about a third of a megabyte, and a rollout to 10,000 accounts with 20 at
once needs only the clients of the accounts in flight (more are kept so that a second pass over a
1,000-account fleet reuses them). The client bound is far above ``max_concurrent``
times the services an account uses, so a wave's accounts are not evicted while in use (and a client
a thread still holds keeps working when evicted and closed; only the next lookup builds a new one).

Endpoints are never decided here: ``endpoint_url`` is whatever the connection says (local AWS in
development, ``None`` on real AWS).
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.config import Config

# One retry policy for every client: adaptive mode rate-limits the client itself once AWS starts
# throttling, which is what keeps a wide rollout from collapsing into TooManyRequests storms.
DEFAULT_RETRIES = {"mode": "adaptive", "max_attempts": 10}
CREDENTIAL_MARGIN_SECONDS = 300


def _setting(name: str, default: int, least: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        value = least - 1
    if value < least:
        raise ValueError(f"environment variable {name}: expected a whole number of at least {least}, got {raw!r}")
    return value


# Clients: one CloudFormation client per member account in a rollout. A pass over more accounts than
# the bound (the no-op rerun after a rollout, in the same order: the worst case of least recently
# used) builds every client again, about 10 ms of CPU and a new connection each; measured at 1,000
# accounts, 256 clients made the no-op rerun 0.62 of the rollout, 1,100 made it 0.13 for 350 MB more
# worker memory (README: "10,000 accounts"). So a 1,000-account fleet fits; a larger one is still
# bounded. Credentials are a few hundred bytes each: keeping many spares a second AssumeRole when the
# plan and the rollout meet the same account within its lifetime.
MAX_CLIENTS = _setting("FLEET_MAX_CLIENTS", 1100, 16)
MAX_CREDENTIALS = _setting("FLEET_MAX_CREDENTIALS", 4096, 16)


class AccessError(RuntimeError):
    """The pipeline cannot act in an account (wrong caller, role not assumable)."""


def retry_config(overrides: Config | None = None, *, max_attempts: int | None = None) -> Config:
    retries = dict(DEFAULT_RETRIES)
    if max_attempts is not None:
        retries["max_attempts"] = max_attempts
    base = Config(retries=retries, s3={"addressing_style": "path"}, max_pool_connections=32,
                  user_agent_extra="fleet-pipeline")
    return base.merge(overrides) if overrides else base


@dataclass
class _Credentials:
    values: dict[str, str]
    expires_at: float


@dataclass
class AwsContext:
    """Clients for the management account and, through the pipeline role, every member account."""

    session: boto3.Session
    region: str
    pipeline_role: str = "OrganizationAccountAccessRole"
    # A fixed URL, or a function of the service name (the Amazon provider's per-service endpoints).
    endpoint_url: str | Callable[[str], str | None] | None = None
    config: Config = field(default_factory=retry_config)
    session_name: str = "fleet-pipeline"
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    max_clients: int = MAX_CLIENTS
    max_credentials: int = MAX_CREDENTIALS
    _credentials: OrderedDict[str, _Credentials] = field(default_factory=OrderedDict, repr=False)
    _clients: OrderedDict[tuple, Any] = field(default_factory=OrderedDict, repr=False)
    _caller: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, region: str, pipeline_role: str = "OrganizationAccountAccessRole",
                         endpoint_url: str | None = None) -> AwsContext:
        """For the CLI: boto3's own credential chain; AWS_ENDPOINT_URL is honoured by boto3 itself."""
        return cls(boto3.Session(region_name=region), region, pipeline_role, endpoint_url)

    def management_account(self) -> str:
        if self._caller is None:
            self._caller = self.client("sts").get_caller_identity()["Account"]
        return self._caller

    def require_management_account(self, expected: str) -> None:
        """Refuse to act with credentials of another account than the config names."""
        actual = self.management_account()
        if actual != expected:
            raise AccessError(
                f"the AWS connection's credentials belong to account {actual}, but the fleet config's "
                f"organization.management_account is {expected}; fix the connection or the config")

    def client(self, service: str, account_id: str | None = None, region: str | None = None):
        """A cached client; an ``account_id`` other than the management account assumes the pipeline role."""
        if account_id is not None and account_id == self.management_account():
            account_id = None
        if account_id is None:
            return self._cached_client(service, None, region or self.region, {})
        arn = f"arn:{self.partition}:iam::{account_id}:role/{self.pipeline_role}"
        # Fetching (or refreshing) credentials first also drops clients built on expiring ones.
        creds = self._assumed(account_id, arn, lambda: self.client("sts"), self.session_name)
        return self._cached_client(service, account_id, region or self.region, creds)

    def client_as(self, service: str, role_arn: str, *, via_account: str | None = None, region: str | None = None,
                  session_name: str | None = None):
        """A cached client acting as ``role_arn``, assumed from the pipeline role in ``via_account``
        (the management account when None); credentials are cached and refreshed like member ones."""
        creds = self._assumed(role_arn, role_arn, lambda: self.client("sts", via_account),
                              session_name or self.session_name)
        return self._cached_client(service, role_arn, region or self.region, creds)

    def _cached_client(self, service: str, principal: str | None, region: str, creds: dict[str, str]):
        key = (service, principal, region)
        # Creating clients from one Session object is not thread-safe, hence the lock.
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                endpoint = self.endpoint_url(service) if callable(self.endpoint_url) else self.endpoint_url
                client = self.session.client(service, region_name=region, endpoint_url=endpoint,
                                             config=self.config, **creds)
                self._clients[key] = client
                while len(self._clients) > self.max_clients:
                    _close(self._clients.popitem(last=False)[1])
            else:
                self._clients.move_to_end(key)
        return client

    def _assumed(self, principal: str, arn: str, sts: Callable[[], Any], session_name: str) -> dict[str, str]:
        """Credentials for ``arn`` cached under ``principal`` (an account id or a role ARN)."""
        with self._lock:
            cred = self._credentials.get(principal)
            if cred and cred.expires_at - CREDENTIAL_MARGIN_SECONDS > time.time():
                self._credentials.move_to_end(principal)
                return cred.values
        try:
            resp = sts().assume_role(RoleArn=arn, RoleSessionName=session_name)
        except Exception as exc:  # botocore ClientError and endpoint errors alike
            raise AccessError(f"cannot assume {arn}: {exc}") from exc
        c = resp["Credentials"]
        values = {"aws_access_key_id": c["AccessKeyId"], "aws_secret_access_key": c["SecretAccessKey"],
                  "aws_session_token": c["SessionToken"]}
        with self._lock:
            self._credentials[principal] = _Credentials(values, c["Expiration"].timestamp())
            self._credentials.move_to_end(principal)
            while len(self._credentials) > self.max_credentials:
                evicted, _ = self._credentials.popitem(last=False)
                self._drop_clients(evicted)
            # Clients built on the old credentials must not outlive them.
            self._drop_clients(principal)
        return values

    def _drop_clients(self, principal: str) -> None:
        """With the lock held: forget the clients built on ``principal``'s credentials."""
        for key in [k for k in self._clients if k[1] == principal]:
            _close(self._clients.pop(key))

    @property
    def partition(self) -> str:
        return self.session.get_partition_for_region(self.region) if hasattr(
            self.session, "get_partition_for_region") else "aws"


def _close(client: Any) -> None:
    """Release an evicted client's connection pool now rather than whenever the garbage collector
    gets to it (a client per account would otherwise keep a socket per account open). A thread
    still using it is not hurt: its connection is closed when returned, the next call opens one."""
    try:
        client.close()
    except Exception:  # noqa: BLE001 (an already closed or half-built client has nothing to release)
        pass


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return response.get("Error", {}).get("Code")
    return None


def ensure_table(ddb, name: str, keys: dict[str, str]) -> None:
    """Create an on-demand, encrypted DynamoDB table with string ``keys`` (name -> HASH | RANGE)
    unless it exists; safe when several tasks race to create it. Returns once it is ACTIVE."""
    try:
        ddb.describe_table(TableName=name)
        return
    except Exception as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    try:
        ddb.create_table(
            TableName=name, BillingMode="PAY_PER_REQUEST", SSESpecification={"Enabled": True},
            KeySchema=[{"AttributeName": k, "KeyType": kind} for k, kind in keys.items()],
            AttributeDefinitions=[{"AttributeName": k, "AttributeType": "S"} for k in keys],
            Tags=[{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}])
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":  # made by a concurrent caller
            raise
    ddb.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
