"""Drift's readers: the live properties of each supported resource type, read from moto's
backends and put in the template's shape (``READERS``), and the properties compared per type
(``COMPARED``: the ones our baselines set; other properties of a supported type are not compared).
"""

from __future__ import annotations

import json
from typing import Any


# -- live properties, per resource type, in the template's shape ---------------------------------
def _s3_bucket(account: str, region: str, physical_id: str) -> dict | None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account][get_partition(region)]
    bucket = backend.buckets.get(physical_id)
    if bucket is None:
        return None
    live: dict[str, Any] = {"BucketName": bucket.name}
    if bucket.encryption:
        rules = bucket.encryption.get("Rule")
        rules = rules if isinstance(rules, list) else [rules]
        live["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": dict(r.get("ApplyServerSideEncryptionByDefault") or {}),
             **({"BucketKeyEnabled": _bool(r["BucketKeyEnabled"])} if "BucketKeyEnabled" in r else {})}
            for r in rules if r]}
    if bucket.versioning_status:
        live["VersioningConfiguration"] = {"Status": bucket.versioning_status}
    pab = bucket.public_access_block
    if pab is not None:
        live["PublicAccessBlockConfiguration"] = {
            "BlockPublicAcls": _bool(pab.block_public_acls), "IgnorePublicAcls": _bool(pab.ignore_public_acls),
            "BlockPublicPolicy": _bool(pab.block_public_policy),
            "RestrictPublicBuckets": _bool(pab.restrict_public_buckets)}
    logging = bucket.logging or {}
    if logging.get("TargetBucket"):
        live["LoggingConfiguration"] = {"DestinationBucketName": logging["TargetBucket"],
                                        **({"LogFilePrefix": logging["TargetPrefix"]}
                                           if logging.get("TargetPrefix") else {})}
    tags = backend.get_bucket_tagging(bucket.name).get("Tags") or []
    if tags:
        live["Tags"] = tags
    return live


def _bool(value: Any) -> Any:
    """moto keeps S3's XML booleans as strings; ActualProperties shows them as the template types."""
    return {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value


def _s3_bucket_policy(account: str, region: str, physical_id: str) -> dict | None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket = s3_backends[account][get_partition(region)].buckets.get(physical_id)
    if bucket is None or not bucket.policy:
        return None
    document = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
    return {"Bucket": bucket.name, "PolicyDocument": document}


def _kms_key(account: str, region: str, physical_id: str) -> dict | None:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    key = backend.keys.get(physical_id.rsplit("/", 1)[-1])
    if key is None or key.key_state == "PendingDeletion":  # AWS::KMS::Key reads such a key as gone
        return None
    return {"EnableKeyRotation": key.key_rotation_status, "Description": key.description,
            "KeyPolicy": key.policy, "Enabled": key.enabled,
            "Tags": backend.list_resource_tags(key.id).get("Tags", [])}


def _sns_topic(account: str, region: str, physical_id: str) -> dict | None:
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(physical_id)
    if topic is None:
        return None
    return {"TopicName": topic.name, "KmsMasterKeyId": topic.kms_master_key_id or None,
            "DisplayName": topic.display_name or None, "Tags": dict(topic._tags)}


def _iam_role(account: str, region: str, physical_id: str) -> dict | None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account][get_partition(region)]
    role = next((r for r in backend.roles.values() if r.name == physical_id), None)
    if role is None:
        return None
    return {"RoleName": role.name, "Description": role.description or None, "Path": role.path,
            "MaxSessionDuration": role.max_session_duration,
            "AssumeRolePolicyDocument": role.assume_role_policy_document,
            "Policies": [{"PolicyName": n, "PolicyDocument": d} for n, d in role.policies.items()],
            "Tags": role.tags if isinstance(role.tags, list) else list((role.tags or {}).values())}


READERS = {"AWS::S3::Bucket": _s3_bucket, "AWS::S3::BucketPolicy": _s3_bucket_policy,
           "AWS::KMS::Key": _kms_key, "AWS::SNS::Topic": _sns_topic, "AWS::IAM::Role": _iam_role}
# What each reader can see. Other properties a template sets on these types are not compared.
COMPARED = {
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption", "VersioningConfiguration",
                        "PublicAccessBlockConfiguration", "LoggingConfiguration", "Tags"},
    "AWS::S3::BucketPolicy": {"Bucket", "PolicyDocument"},
    "AWS::KMS::Key": {"EnableKeyRotation", "Description", "KeyPolicy", "Enabled", "Tags"},
    "AWS::SNS::Topic": {"TopicName", "KmsMasterKeyId", "DisplayName", "Tags"},
    "AWS::IAM::Role": {"RoleName", "Description", "Path", "MaxSessionDuration", "AssumeRolePolicyDocument",
                       "Policies", "Tags"},
}
