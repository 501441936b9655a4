"""AWS::S3::Bucket and AWS::S3::BucketPolicy through CloudFormation (localaws.patches.s3)."""

import json

import pytest

BUCKETS = """
Resources:
  Logs:
    Type: AWS::S3::Bucket
    Properties:
      OwnershipControls: {{Rules: [{{ObjectOwnership: BucketOwnerEnforced}}]}}
  Data:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault: {{SSEAlgorithm: "aws:kms", KMSMasterKeyID: alias/data}}
            BucketKeyEnabled: true
      VersioningConfiguration: {{Status: {versioning}}}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: {block_policy}
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      LoggingConfiguration: {{DestinationBucketName: !Ref Logs, LogFilePrefix: {prefix}}}
      LifecycleConfiguration:
        Rules: [{{Id: old, Status: Enabled, NoncurrentVersionExpiration: {{NoncurrentDays: 30}}}}]
      Tags: [{{Key: owner, Value: {owner}}}]
Outputs:
  Data: {{Value: !Ref Data}}
  Logs: {{Value: !Ref Logs}}
"""


def _buckets(versioning="Enabled", block_policy="true", prefix="data/", owner="a"):
    return BUCKETS.format(versioning=versioning, block_policy=block_policy, prefix=prefix, owner=owner)


def _read(s3, bucket):
    return {
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0],
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "pab": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "logging": s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled"),
        "lifecycle": s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"],
        "tags": s3.get_bucket_tagging(Bucket=bucket)["TagSet"],
    }


def test_bucket_properties_from_template(member):
    member.deploy("s3-props", _buckets())
    out = member.outputs("s3-props")
    s3 = member.client("s3")

    got = _read(s3, out["Data"])
    assert got["encryption"] == {
        "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "alias/data"},
        "BucketKeyEnabled": True,
    }
    assert got["versioning"] == "Enabled"
    assert got["pab"] == {"BlockPublicAcls": True, "IgnorePublicAcls": True,
                          "BlockPublicPolicy": True, "RestrictPublicBuckets": True}
    assert got["logging"] == {"TargetBucket": out["Logs"], "TargetPrefix": "data/"}
    assert got["lifecycle"][0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert got["tags"] == [{"Key": "owner", "Value": "a"}]
    ownership = s3.get_bucket_ownership_controls(Bucket=out["Logs"])["OwnershipControls"]
    assert ownership == {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]}


def test_bucket_update_applies_changed_properties(member):
    member.deploy("s3-upd", _buckets())
    bucket = member.outputs("s3-upd")["Data"]

    changed = member.deploy("s3-upd", _buckets(versioning="Suspended", block_policy="false",
                                               prefix="new/", owner="b"), change_set_type="UPDATE")

    assert [c["ResourceChange"]["LogicalResourceId"] for c in changed["Changes"]] == ["Data"]
    assert member.stack("s3-upd")["StackStatus"] == "UPDATE_COMPLETE"
    got = _read(member.client("s3"), bucket)
    assert got["versioning"] == "Suspended"
    assert got["pab"]["BlockPublicPolicy"] is False
    assert got["logging"]["TargetPrefix"] == "new/"
    assert got["tags"] == [{"Key": "owner", "Value": "b"}]


POLICY = """
Resources:
  Bucket: {{Type: AWS::S3::Bucket}}
  Policy:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - {{Sid: {sid}, Effect: Deny, Principal: "*", Action: "s3:*", Resource: !Sub "${{Bucket.Arn}}/*",
             Condition: {{Bool: {{"aws:SecureTransport": "false"}}}}}}
Outputs:
  Bucket: {{Value: !Ref Bucket}}
"""


def test_bucket_policy_create_update_delete(member):
    member.deploy("s3-policy", POLICY.format(sid="TlsOnly"))
    bucket = member.outputs("s3-policy")["Bucket"]
    s3 = member.client("s3")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "TlsOnly"
    assert member.physical_ids("s3-policy")["Policy"] == bucket

    member.deploy("s3-policy", POLICY.format(sid="TlsOnly2"), change_set_type="UPDATE")
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Sid"] == "TlsOnly2"

    without_policy = POLICY.format(sid="x").split("  Policy:")[0] + "Outputs:\n  Bucket: {Value: !Ref Bucket}\n"
    member.deploy("s3-policy", without_policy, change_set_type="UPDATE")
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)
