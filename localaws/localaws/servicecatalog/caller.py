"""Who is calling: account, region and IAM identity, resolved the way moto resolves them.

moto maps an access key to its account through IAM (``get_account_id_from``); keys minted by
STS AssumeRole live in the target account's IAM backend with the role ARN attached, which is how
assumed-role credentials land in a member account.  We need the identity as well as the account
because Service Catalog grants end-user access per IAM principal (portfolio principals).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]*/([^/]*)/")


@dataclass(frozen=True)
class Caller:
    account: str
    region: str
    partition: str
    access_key: str
    arn: str  # what GetCallerIdentity would say: assumed-role, user or root ARN
    role_arn: str | None  # the IAM role behind assumed-role credentials

    @property
    def role_name(self) -> str | None:
        return self.role_arn.rsplit("/", 1)[-1] if self.role_arn else None


def caller_from_environ(environ: dict[str, Any]) -> Caller:
    from moto.utilities.utils import get_partition

    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL.search(auth)
    access_key = match.group(1) if match else ""
    region = (match.group(2) if match else "") or "us-east-1"
    partition = get_partition(region)
    account = _account_for(environ, access_key)
    arn, role_arn = _identity(account, partition, access_key)
    return Caller(account, region, partition, access_key, arn, role_arn)


def _account_for(environ: dict[str, Any], access_key: str) -> str:
    # Same precedence as moto's BaseResponse.get_current_account, so both halves of local AWS
    # agree on the account of every request.
    if "MOTO_ACCOUNT_ID" in os.environ:
        return os.environ["MOTO_ACCOUNT_ID"]
    if environ.get("HTTP_X_MOTO_ACCOUNT_ID"):
        return environ["HTTP_X_MOTO_ACCOUNT_ID"]
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


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
