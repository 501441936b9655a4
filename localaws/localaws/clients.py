"""boto3 clients for local AWS, with the settings every caller must share.

Low retries so a broken local server fails a test in seconds instead of backing off for a minute;
path-style S3 because bucket-name hosts do not resolve to 127.0.0.1; dummy credentials and no
instance metadata lookups so nothing ever reaches for real AWS.
"""

from __future__ import annotations

import os
from typing import Any

import boto3
from botocore.config import Config

DEFAULT_REGION = "us-east-1"
DUMMY_CREDENTIALS = {
    "aws_access_key_id": "testing",
    "aws_secret_access_key": "testing",
    "aws_session_token": "testing",
}
CLIENT_CONFIG = Config(
    retries={"max_attempts": 2, "mode": "standard"},
    s3={"addressing_style": "path"},
)

os.environ.setdefault("AWS_EC2_METADATA_DISABLED", "true")


def session(credentials: dict[str, str] | None = None, region: str = DEFAULT_REGION) -> boto3.Session:
    return boto3.Session(region_name=region, **(credentials or DUMMY_CREDENTIALS))


def client(service: str, endpoint_url: str, region: str = DEFAULT_REGION,
           credentials: dict[str, str] | None = None) -> Any:
    """A client for the management account (moto's default identity) or for `credentials`."""
    return session(credentials, region).client(service, endpoint_url=endpoint_url,
                                               config=CLIENT_CONFIG)


def assume_role(endpoint_url: str, account_id: str,
                role_name: str = "OrganizationAccountAccessRole",
                session_name: str = "localaws") -> dict[str, str]:
    """Credentials for `role_name` in `account_id`.

    moto never checks the role or its trust policy, but the returned key really switches every
    later call into that account's namespace, which is what member-account tests rely on.
    """
    sts = client("sts", endpoint_url)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account_id}:role/{role_name}",
                            RoleSessionName=session_name)["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }
