"""AWS::S3::Bucket and AWS::S3::BucketPolicy in CloudFormation templates."""

from __future__ import annotations

import json
from typing import Any

from localaws.patching import replace_classmethod

# The bucket properties moto 5.2.5 ignores (or half-applies) that we apply ourselves. Each maps to
# the S3 API call whose Get* counterpart must read back what the template said.
_BOOL = {True: "true", False: "false"}


def _backend(account_id: str, region_name: str) -> Any:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    return s3_backends[account_id][get_partition(region_name)]


def _encryption(cfn: dict[str, Any]) -> dict[str, Any]:
    # CFN: ServerSideEncryptionConfiguration: [{ServerSideEncryptionByDefault, BucketKeyEnabled}]
    # moto keeps the PutBucketEncryption XML shape: {"Rule": {ApplyServerSideEncryptionByDefault,
    # BucketKeyEnabled}} with XML-style string booleans.
    rule_in = cfn["ServerSideEncryptionConfiguration"][0]
    default_in = rule_in.get("ServerSideEncryptionByDefault", {})
    default = {"SSEAlgorithm": default_in["SSEAlgorithm"]}
    if default_in.get("KMSMasterKeyID"):
        default["KMSMasterKeyID"] = default_in["KMSMasterKeyID"]
    rule: dict[str, Any] = {"ApplyServerSideEncryptionByDefault": default}
    if "BucketKeyEnabled" in rule_in:
        rule["BucketKeyEnabled"] = _BOOL[_truthy(rule_in["BucketKeyEnabled"])]
    return {"@xmlns": "http://s3.amazonaws.com/doc/2006-03-01/", "Rule": rule}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _lifecycle_rules(cfn: dict[str, Any]) -> list[dict[str, Any]]:
    """CFN LifecycleConfiguration.Rules -> the PutBucketLifecycleConfiguration shape moto parses."""
    rules = []
    for r in cfn.get("Rules", []):
        rule: dict[str, Any] = {"ID": r.get("Id"), "Status": r["Status"]}
        if "Prefix" in r:
            rule["Filter"] = {"Prefix": r["Prefix"]}
        elif r.get("TagFilters"):
            tags = [{"Key": t["Key"], "Value": t["Value"]} for t in r["TagFilters"]]
            rule["Filter"] = {"Tag": tags[0]} if len(tags) == 1 else {"And": {"Tag": tags}}
        else:
            rule["Filter"] = {"Prefix": ""}
        expiration: dict[str, Any] = {}
        if "ExpirationInDays" in r:
            expiration["Days"] = int(r["ExpirationInDays"])
        if "ExpirationDate" in r:
            expiration["Date"] = r["ExpirationDate"]
        if "ExpiredObjectDeleteMarker" in r:
            expiration["ExpiredObjectDeleteMarker"] = _BOOL[_truthy(r["ExpiredObjectDeleteMarker"])]
        if expiration:
            rule["Expiration"] = expiration
        nve = dict(r.get("NoncurrentVersionExpiration") or {})
        if "NoncurrentVersionExpirationInDays" in r:
            nve["NoncurrentDays"] = r["NoncurrentVersionExpirationInDays"]
        if nve:
            rule["NoncurrentVersionExpiration"] = {k: int(v) for k, v in nve.items()}
        if r.get("Transitions"):
            rule["Transition"] = [
                {"StorageClass": t["StorageClass"],
                 **({"Days": int(t["TransitionInDays"])} if "TransitionInDays" in t else {}),
                 **({"Date": t["TransitionDate"]} if "TransitionDate" in t else {})}
                for t in r["Transitions"]
            ]
        if r.get("AbortIncompleteMultipartUpload"):
            rule["AbortIncompleteMultipartUpload"] = {
                "DaysAfterInitiation": int(r["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])
            }
        rules.append(rule)
    return rules


def _apply_logging(backend: Any, bucket_name: str, cfn: dict[str, Any] | None) -> None:
    bucket = backend.get_bucket(bucket_name)
    if not cfn:
        bucket.set_logging(None, backend)
        return
    config = {"TargetBucket": cfn.get("DestinationBucketName") or bucket_name,
              "TargetPrefix": cfn.get("LogFilePrefix", "")}
    target = backend.buckets.get(config["TargetBucket"])
    if target is not None and target.ownership_rule == "BucketOwnerEnforced":
        # With ACLs disabled S3 cannot (and does not) demand log-delivery ACL grants on the
        # target; delivery is authorised by the target's bucket policy. moto only knows the ACL
        # and policy checks, so for such targets we keep just its existence/region checks.
        from moto.s3.exceptions import CrossLocationLoggingProhibited

        if target.region_name != bucket.region_name:
            raise CrossLocationLoggingProhibited()
        bucket.logging = config
        return
    backend.put_bucket_logging(bucket_name, config)


def _apply_bucket_properties(backend: Any, bucket_name: str, props: dict[str, Any]) -> None:
    """Make the bucket match `props`; a property the template no longer has is removed."""
    if "BucketEncryption" in props:
        backend.put_bucket_encryption(bucket_name, _encryption(props["BucketEncryption"]))
    else:
        backend.delete_bucket_encryption(bucket_name)

    # A bucket once versioned can only be suspended, never unversioned again.
    status = (props.get("VersioningConfiguration") or {}).get("Status")
    if status:
        backend.put_bucket_versioning(bucket_name, status)
    elif backend.get_bucket_versioning(bucket_name) == "Enabled":
        backend.put_bucket_versioning(bucket_name, "Suspended")

    if props.get("PublicAccessBlockConfiguration"):
        pab = {k: _BOOL[_truthy(v)] for k, v in props["PublicAccessBlockConfiguration"].items()}
        backend.put_public_access_block(bucket_name, pab)
    else:
        backend.delete_public_access_block(bucket_name)

    rules = (props.get("OwnershipControls") or {}).get("Rules") or []
    if rules:
        backend.put_bucket_ownership_controls(bucket_name, rules[0]["ObjectOwnership"])
    else:
        backend.delete_bucket_ownership_controls(bucket_name)

    _apply_logging(backend, bucket_name, props.get("LoggingConfiguration"))

    if props.get("LifecycleConfiguration"):
        backend.put_bucket_lifecycle_configuration(
            bucket_name, _lifecycle_rules(props["LifecycleConfiguration"]))
    else:
        backend.delete_bucket_lifecycle(bucket_name)

    tags = {t["Key"]: t["Value"] for t in props.get("Tags", [])}
    if tags:
        backend.put_bucket_tagging(bucket_name, tags)
    else:
        backend.delete_bucket_tagging(bucket_name)


def bucket_properties_from_template() -> None:
    """AWS::S3::Bucket: VersioningConfiguration, PublicAccessBlockConfiguration,
    LoggingConfiguration, OwnershipControls, LifecycleConfiguration and BucketEncryption's
    BucketKeyEnabled configure the bucket (CloudFormation resource reference), so
    GetBucketVersioning, GetPublicAccessBlock, GetBucketLogging, GetBucketOwnershipControls,
    GetBucketLifecycleConfiguration and GetBucketEncryption read back what the template says.
    moto 5.2.5 only applies the SSE algorithm/key and the tags."""
    from moto.s3.models import FakeBucket

    def make(original: Any) -> Any:
        def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            bucket = original(cls, resource_name, cloudformation_json, account_id, region_name,
                              **kwargs)
            _apply_bucket_properties(_backend(account_id, region_name), bucket.name,
                                     cloudformation_json.get("Properties", {}))
            return bucket

        return create_from_cloudformation_json

    replace_classmethod(FakeBucket, "create_from_cloudformation_json", make)


def bucket_updates_in_place() -> None:
    """AWS::S3::Bucket: every property but BucketName (and ObjectLockEnabled) updates with no
    interruption (CloudFormation resource reference), and the update leaves the bucket exactly as
    the new template describes. moto 5.2.5 only re-applies encryption, and its tag update reads
    Properties['BucketName'], so any update of a bucket without an explicit name and with Tags
    fails with KeyError 'BucketName'."""
    from moto.s3.models import FakeBucket

    def make(original: Any) -> Any:
        def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            props = cloudformation_json.get("Properties", {})
            if "BucketName" in props and props["BucketName"] != original_resource.name:
                # Replacement: moto's own path creates the new bucket through our patched create.
                return original(cls, original_resource, new_resource_name, cloudformation_json,
                                account_id, region_name)
            _apply_bucket_properties(_backend(account_id, region_name), original_resource.name,
                                     props)
            return original_resource

        return update_from_cloudformation_json

    replace_classmethod(FakeBucket, "update_from_cloudformation_json", make)


class BucketPolicy:
    """The CloudFormation model for AWS::S3::BucketPolicy: the policy is the bucket's
    (PutBucketPolicy/DeleteBucketPolicy); the physical id is the bucket name, as in AWS."""

    def __init__(self, bucket_name: str, document: Any):
        self.bucket_name = bucket_name
        self.document = document

    @property
    def physical_resource_id(self) -> str:
        return self.bucket_name

    @staticmethod
    def _policy_bytes(document: Any) -> bytes:
        text = document if isinstance(document, str) else json.dumps(document)
        return text.encode()


def bucket_policy_resource() -> None:
    """AWS::S3::BucketPolicy applies PolicyDocument to Bucket on create and update and removes it
    on delete (CloudFormation resource reference); GetBucketPolicy returns it. moto 5.2.5 has no
    model for the type ("No Moto CloudFormation support"): the stack says CREATE_COMPLETE with no
    policy on the bucket, and DescribeStackResources fails on the missing resource."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel

    if "AWS::S3::BucketPolicy" in parsing.get_model_map():
        return

    class S3BucketPolicy(BucketPolicy, CloudFormationModel):
        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::S3::BucketPolicy"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return False

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            props = cloudformation_json["Properties"]
            bucket, document = props["Bucket"], props["PolicyDocument"]
            _backend(account_id, region_name).put_bucket_policy(bucket, cls._policy_bytes(document))
            return cls(bucket, document)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # type: ignore[override]
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            new_bucket = cloudformation_json["Properties"]["Bucket"]
            if new_bucket != original_resource.bucket_name:
                # Bucket is a replacement property: the old bucket loses the policy.
                _backend(account_id, region_name).delete_bucket_policy(original_resource.bucket_name)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                       account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                            account_id: str, region_name: str) -> None:
            from moto.s3.exceptions import MissingBucket

            # resource_name is the physical id (the bucket); on removal moto passes the template's
            # unresolved JSON, where Bucket is still {"Ref": ...}.
            bucket = resource_name
            try:
                _backend(account_id, region_name).delete_bucket_policy(bucket)
            except MissingBucket:
                pass  # the bucket went first: nothing left to detach

    S3BucketPolicy.__name__ = S3BucketPolicy.__qualname__ = "S3BucketPolicy"
    parsing.get_model_map()["AWS::S3::BucketPolicy"] = S3BucketPolicy


PATCHES = [bucket_properties_from_template, bucket_updates_in_place, bucket_policy_resource]
