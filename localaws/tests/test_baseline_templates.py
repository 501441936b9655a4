"""The project's own templates, deployed into a member account through change sets and read
back through each service's API: the end-to-end check that local AWS tells the truth."""

import json

from localaws_support import TEMPLATES

BASELINE = (TEMPLATES / "security-baseline.yaml").read_text()
PRODUCT = (TEMPLATES / "products" / "encrypted-bucket.yaml").read_text()
PARAMS = {"AlertEmail": "", "RetentionDays": "365"}


def test_security_baseline_reads_back(member):
    described = member.deploy("security-baseline", BASELINE, PARAMS)
    assert described["Status"] == "CREATE_COMPLETE"
    stack = member.stack("security-baseline")
    assert stack["StackStatus"] == "CREATE_COMPLETE"
    out = member.outputs("security-baseline")
    assert set(out) == {"KeyArn", "AuditBucketName", "AccessLogsBucketName", "AuditRoleArn", "AlertsTopicArn"}
    assert f":{member.account_id}:" in out["KeyArn"]
    s3, kms, iam, sns = (member.client(s) for s in ("s3", "kms", "iam", "sns"))

    audit = out["AuditBucketName"]
    rule = s3.get_bucket_encryption(Bucket=audit)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule == {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms",
                                                           "KMSMasterKeyID": out["KeyArn"]},
                    "BucketKeyEnabled": True}
    assert s3.get_bucket_versioning(Bucket=audit)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=audit)["PublicAccessBlockConfiguration"].values())
    assert s3.get_bucket_logging(Bucket=audit)["LoggingEnabled"] == {
        "TargetBucket": out["AccessLogsBucketName"], "TargetPrefix": "audit/"}
    policy = json.loads(s3.get_bucket_policy(Bucket=audit)["Policy"])
    assert policy["Statement"][0]["Sid"] == "DenyInsecureTransport"
    logs = out["AccessLogsBucketName"]
    assert s3.get_bucket_encryption(Bucket=logs)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    assert all(s3.get_public_access_block(Bucket=logs)["PublicAccessBlockConfiguration"].values())

    assert kms.get_key_rotation_status(KeyId=out["KeyArn"])["KeyRotationEnabled"] is True
    role = iam.get_role(RoleName="fleet-audit")["Role"]
    assert role["Arn"] == out["AuditRoleArn"]
    assert role["AssumeRolePolicyDocument"]["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    inline = iam.get_role_policy(RoleName="fleet-audit", PolicyName="audit-read")["PolicyDocument"]
    assert inline["Statement"][0]["Resource"] == [f"arn:aws:s3:::{audit}", f"arn:aws:s3:::{audit}/*"]
    attributes = sns.get_topic_attributes(TopicArn=out["AlertsTopicArn"])["Attributes"]
    assert attributes["KmsMasterKeyId"] == "alias/fleet-baseline"


def test_security_baseline_update_and_no_change(member):
    member.deploy("security-baseline", BASELINE, PARAMS)
    audit = member.outputs("security-baseline")["AuditBucketName"]

    changed = member.deploy("security-baseline", BASELINE, {**PARAMS, "RetentionDays": "30"},
                            change_set_type="UPDATE")
    assert changed["Status"] == "CREATE_COMPLETE"
    assert [c["ResourceChange"]["LogicalResourceId"] for c in changed["Changes"]] == ["AuditBucket"]
    rules = member.client("s3").get_bucket_lifecycle_configuration(Bucket=audit)["Rules"]
    assert rules[0]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 30}
    assert member.stack("security-baseline")["StackStatus"] == "UPDATE_COMPLETE"
    assert member.outputs("security-baseline")["AuditBucketName"] == audit

    same = member.deploy("security-baseline", BASELINE, {**PARAMS, "RetentionDays": "30"},
                         change_set_type="UPDATE")
    assert same["Status"] == "FAILED"
    assert "didn't contain changes" in same["StatusReason"]


def test_encrypted_bucket_product_reads_back(member):
    key_arn = member.client("kms").create_key()["KeyMetadata"]["Arn"]
    member.deploy("product", PRODUCT, {"KmsKeyArn": key_arn})
    bucket = member.outputs("product")["BucketName"]
    s3 = member.client("s3")
    rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
    assert rule["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key_arn}
    assert rule["BucketKeyEnabled"] is True
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert all(s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"].values())
    assert json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Effect"] == "Deny"
