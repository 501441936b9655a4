"""Integration tests: read what a stack provisioned back through the services' own APIs.

A stack in CREATE_COMPLETE proves only that CloudFormation is satisfied. These checks ask S3, KMS,
IAM, SNS and EC2 directly whether the resources are what the sample's baselines promise (the
security baseline, the network baseline); a stack of another baseline gets no service checks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

from fleet.aws import AwsContext, error_code
from fleet.stacks import DeployResult


@dataclass
class Check:
    account_id: str
    account_name: str
    region: str
    name: str
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def _check(fn: Callable[[], str]) -> tuple[bool, str]:
    """Run one probe: a returned string is a pass; an AssertionError or AWS error is a fail."""
    try:
        return True, fn()
    except AssertionError as exc:
        return False, str(exc)
    except Exception as exc:
        return False, f"{error_code(exc) or type(exc).__name__}: {exc}"


def verify_security_baseline(ctx: AwsContext, deployed: DeployResult) -> list[Check]:
    acct, region, out = deployed.account_id, deployed.region, deployed.outputs
    s3 = ctx.client("s3", acct, region)
    kms = ctx.client("kms", acct, region)
    iam = ctx.client("iam", acct, region)
    sns = ctx.client("sns", acct, region)

    def outputs_present() -> str:
        missing = {"KeyArn", "AuditBucketName", "AccessLogsBucketName", "AuditRoleArn", "AlertsTopicArn"} - set(out)
        assert not missing, f"stack outputs missing: {sorted(missing)}"
        return "all outputs present"

    def bucket_encrypted_with_key() -> str:
        rules = s3.get_bucket_encryption(Bucket=out["AuditBucketName"])["ServerSideEncryptionConfiguration"]["Rules"]
        default = rules[0]["ApplyServerSideEncryptionByDefault"]
        assert default["SSEAlgorithm"] == "aws:kms", f"SSEAlgorithm is {default['SSEAlgorithm']}, expected aws:kms"
        assert default.get("KMSMasterKeyID") == out["KeyArn"], (
            f"bucket key {default.get('KMSMasterKeyID')} is not the baseline key {out['KeyArn']}")
        return "aws:kms with the baseline key"

    def bucket_versioned() -> str:
        status = s3.get_bucket_versioning(Bucket=out["AuditBucketName"]).get("Status")
        assert status == "Enabled", f"versioning is {status or 'never enabled'}, expected Enabled"
        return "Enabled"

    def public_access_blocked() -> str:
        for bucket in (out["AuditBucketName"], out["AccessLogsBucketName"]):
            cfg = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
            off = [k for k, v in cfg.items() if not v]
            assert not off, f"{bucket}: {off} not blocked"
        return "all four settings on both buckets"

    def access_logged() -> str:
        logging = s3.get_bucket_logging(Bucket=out["AuditBucketName"]).get("LoggingEnabled") or {}
        assert logging.get("TargetBucket") == out["AccessLogsBucketName"], (
            f"access logs go to {logging.get('TargetBucket')}, expected {out['AccessLogsBucketName']}")
        return f"to {logging['TargetBucket']}"

    def key_rotation() -> str:
        assert kms.get_key_rotation_status(KeyId=out["KeyArn"])["KeyRotationEnabled"], "key rotation is off"
        return "enabled"

    def audit_role() -> str:
        name = out["AuditRoleArn"].rsplit("/", 1)[-1]
        role = iam.get_role(RoleName=name)["Role"]
        principals = str(role["AssumeRolePolicyDocument"])
        assert ctx.management_account() in principals, "the management account cannot assume the audit role"
        return role["Arn"]

    def alerts_topic() -> str:
        attrs = sns.get_topic_attributes(TopicArn=out["AlertsTopicArn"])["Attributes"]
        assert attrs.get("KmsMasterKeyId"), "the alerts topic is not encrypted"
        return f"encrypted with {attrs['KmsMasterKeyId']}"

    probes = [outputs_present, bucket_encrypted_with_key, bucket_versioned, public_access_blocked,
              access_logged, key_rotation, audit_role, alerts_topic]
    checks = []
    for probe in probes:
        ok, detail = _check(probe)
        checks.append(Check(acct, deployed.account_name, region, probe.__name__, ok, detail))
        if probe is outputs_present and not ok:
            break  # every later probe needs the outputs
    return checks


def verify_network_baseline(ctx: AwsContext, deployed: DeployResult) -> list[Check]:
    acct, region, out = deployed.account_id, deployed.region, deployed.outputs
    ec2 = ctx.client("ec2", acct, region)

    def outputs_present() -> str:
        missing = {"VpcId", "VpcCidr"} - set(out)
        assert not missing, f"stack outputs missing: {sorted(missing)}"
        return "all outputs present"

    def vpc_as_configured() -> str:
        vpc = ec2.describe_vpcs(VpcIds=[out["VpcId"]])["Vpcs"][0]
        assert vpc["CidrBlock"] == out["VpcCidr"], f"VPC CIDR {vpc['CidrBlock']}, the stack says {out['VpcCidr']}"
        dns = ec2.describe_vpc_attribute(VpcId=out["VpcId"], Attribute="enableDnsSupport")
        assert dns["EnableDnsSupport"]["Value"], "DNS support is off"
        return f"{out['VpcId']} {vpc['CidrBlock']}"

    checks = []
    for probe in (outputs_present, vpc_as_configured):
        ok, detail = _check(probe)
        checks.append(Check(acct, deployed.account_name, region, probe.__name__, ok, detail))
        if not ok:
            break
    return checks


# Service checks per baseline stack (fleet-<baseline>).
CHECKS = {"fleet-security-baseline": verify_security_baseline, "fleet-network": verify_network_baseline}


def verify_stack(ctx: AwsContext, deployed: DeployResult) -> list[Check]:
    check = CHECKS.get(deployed.stack_name)
    return check(ctx, deployed) if check else []


def health(ctx: AwsContext, deployed: DeployResult) -> list[Check]:
    """Canary health: the stack is complete and no CloudWatch alarm in the account is firing."""
    acct, region = deployed.account_id, deployed.region

    def stack_complete() -> str:
        assert deployed.status in {"created", "updated", "unchanged"}, (
            f"deployment {deployed.status}: {deployed.error}")
        return deployed.stack_status or deployed.status

    def no_alarm_firing() -> str:
        cw = ctx.client("cloudwatch", acct, region)
        firing = [a["AlarmName"] for page in cw.get_paginator("describe_alarms").paginate(StateValue="ALARM")
                  for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])]
        assert not firing, f"alarms firing: {', '.join(firing)}"
        return "no alarm in ALARM"

    return [Check(acct, deployed.account_name, region, p.__name__, *_check(p))
            for p in (stack_complete, no_alarm_firing)]
