"""Least privilege for the pipeline itself: every AWS call the code makes, kept here in one place,
and the two documents generated from it.

- ``include/bootstrap/pipeline-policy.json``: the IAM policy of the pipeline's principal in the
  management account (the ``aws_default`` connection's identity).
- ``include/bootstrap/member-deployment-role.yaml``: a CloudFormation template for each member
  account (a StackSet, or Account Factory customizations) creating the deployment role the
  pipeline assumes there (``organization.pipeline_role``), trusting only the pipeline's principal,
  allowed only the calls the pipeline makes in member accounts.

    python -m fleet.permissions --write     # regenerate both after changing the lists below
    python -m fleet.permissions --check     # exit 1 when the files differ from the lists

The lists are API operations as botocore names them ("service:Operation", the service's signing
name); ``iam_actions`` turns them into IAM actions where the two differ. A test
(tests/security/test_permissions.py) runs the pipeline on local AWS, records every call, and fails
naming any call that is not listed here.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

# The management account: the pipeline's own principal (the fleet pipeline and account_vending,
# as recorded by tests/security/test_permissions.py).
MANAGEMENT_CALLS: tuple[str, ...] = (
    "access-analyzer:ValidatePolicy",
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DescribeStacks",
    "cloudformation:ExecuteChangeSet",
    "dynamodb:BatchGetItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:CreateTable",
    "dynamodb:DescribeTable",
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:Scan",
    "monitoring:PutMetricData",
    "organizations:AttachPolicy",
    "organizations:CreateAccount",
    "organizations:DescribeCreateAccountStatus",
    "organizations:ListAccounts",
    "organizations:ListAccountsForParent",
    "organizations:ListCreateAccountStatus",
    "organizations:ListOrganizationalUnitsForParent",
    "organizations:ListParents",
    "organizations:ListPolicies",
    "organizations:ListPoliciesForTarget",
    "organizations:ListRoots",
    "organizations:ListTagsForResource",
    "organizations:MoveAccount",
    "organizations:TagResource",
    "s3:CreateBucket",
    "s3:GetObject",
    "s3:HeadBucket",
    "s3:HeadObject",
    "s3:ListObjectsV2",
    "s3:PutObject",
    "servicecatalog:AssociatePrincipalWithPortfolio",
    "servicecatalog:AssociateProductWithPortfolio",
    "servicecatalog:AssociateTagOptionWithResource",
    "servicecatalog:CreateConstraint",
    "servicecatalog:CreatePortfolio",
    "servicecatalog:CreatePortfolioShare",
    "servicecatalog:CreateProduct",
    "servicecatalog:CreateTagOption",
    "servicecatalog:DescribePortfolio",
    "servicecatalog:DescribePortfolioShares",
    "servicecatalog:EnableAWSOrganizationsAccess",
    "servicecatalog:ListConstraintsForPortfolio",
    "servicecatalog:ListPortfolios",
    "servicecatalog:ListPortfoliosForProduct",
    "servicecatalog:ListPrincipalsForPortfolio",
    "servicecatalog:ListProvisioningArtifacts",
    "servicecatalog:ListTagOptions",
    "servicecatalog:SearchProductsAsAdmin",
    "sns:CreateTopic",
    "sns:Publish",
    "sts:AssumeRole",
    "sts:GetCallerIdentity",
)

# Member accounts, through the assumed pipeline role.
MEMBER_CALLS: tuple[str, ...] = (
    "cloudformation:CreateChangeSet",
    "cloudformation:DeleteChangeSet",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DescribeStackDriftDetectionStatus",
    "cloudformation:DescribeStackResourceDrifts",
    "cloudformation:DescribeStacks",
    "cloudformation:DetectStackDrift",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:ListStackResources",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcs",
    "guardduty:CreateDetector",
    "guardduty:ListDetectors",
    "iam:CreateRole",
    "iam:GetRole",
    "iam:PutRolePolicy",
    "kms:GetKeyRotationStatus",
    "macie2:EnableMacie",
    "macie2:GetMacieSession",
    "monitoring:DescribeAlarms",
    "s3:DeleteBucket",
    "s3:GetBucketEncryption",
    "s3:GetBucketLogging",
    "s3:GetBucketVersioning",
    "s3:GetPublicAccessBlock",
    "s3:ListObjectVersions",
    "securityhub:BatchEnableStandards",
    "securityhub:EnableSecurityHub",
    "securityhub:GetEnabledStandards",
    "securityhub:GetFindings",
    "servicecatalog:AcceptPortfolioShare",
    "servicecatalog:ListAcceptedPortfolioShares",
    "sns:GetTopicAttributes",
    "sts:AssumeRole",
)

# API operations whose IAM action has another name (or needs more than one action).
IAM_ACTION_NAMES: dict[str, tuple[str, ...]] = {
    "s3:ListObjectsV2": ("s3:ListBucket",),
    "s3:ListObjects": ("s3:ListBucket",),
    "s3:HeadObject": ("s3:GetObject",),
    "s3:HeadBucket": ("s3:ListBucket",),
    "s3:ListObjectVersions": ("s3:ListBucketVersions",),
    "s3:DeleteObjects": ("s3:DeleteObject",),
    "s3:CopyObject": ("s3:GetObject", "s3:PutObject"),
    "s3:PutBucketEncryption": ("s3:PutEncryptionConfiguration",),
    "s3:GetBucketEncryption": ("s3:GetEncryptionConfiguration",),
    "s3:GetBucketLogging": ("s3:GetBucketLogging",),
    "access-analyzer:ValidatePolicy": ("access-analyzer:ValidatePolicy",),
    "s3:PutPublicAccessBlock": ("s3:PutBucketPublicAccessBlock",),
    "s3:GetPublicAccessBlock": ("s3:GetBucketPublicAccessBlock",),
    "s3:PutBucketLifecycleConfiguration": ("s3:PutLifecycleConfiguration",),
    "s3:GetBucketLifecycleConfiguration": ("s3:GetLifecycleConfiguration",),
}
# botocore signing names that are not the IAM service prefix.
IAM_PREFIX = {"monitoring": "cloudwatch", "email": "ses"}
# Operations every principal may call without a permission.
NO_PERMISSION = frozenset({"sts:GetCallerIdentity"})

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "include" / "bootstrap"
POLICY_FILE = "pipeline-policy.json"
TEMPLATE_FILE = "member-deployment-role.yaml"


def iam_actions(call: str) -> tuple[str, ...]:
    """The IAM actions one "service:Operation" call needs (none for GetCallerIdentity)."""
    if call in NO_PERMISSION:
        return ()
    service, operation = call.split(":", 1)
    return IAM_ACTION_NAMES.get(call, (f"{IAM_PREFIX.get(service, service)}:{operation}",))


def actions(calls) -> list[str]:
    return sorted({a for c in calls for a in iam_actions(c)})


# Calls that act on roles: allowed on the named roles only, never on "*" (a role that may write any
# role's policy or assume any role escalates to anything; the IAM gate refuses such a template).
ROLE_CALLS = frozenset({"iam:CreateRole", "iam:GetRole", "iam:PutRolePolicy", "sts:AssumeRole"})


def _statements(calls, role_arns: list) -> list[dict]:
    scoped = [c for c in calls if c in ROLE_CALLS]
    rest = [c for c in calls if c not in ROLE_CALLS]
    statements = [{"Sid": "FleetPipelineCalls", "Effect": "Allow", "Action": actions(rest), "Resource": "*"}]
    if scoped:
        statements.append({"Sid": "FleetPipelineRoles", "Effect": "Allow", "Action": actions(scoped),
                           "Resource": role_arns})
    return statements


def pipeline_policy(pipeline_role: str = "OrganizationAccountAccessRole") -> dict:
    """The management account's pipeline policy: its own calls, and assuming the pipeline role in members."""
    return {"Version": "2012-10-17",
            "Statement": _statements(MANAGEMENT_CALLS, [f"arn:aws:iam::*:role/{pipeline_role}"])}


def bootstrap_template() -> str:
    """The member accounts' deployment role as CloudFormation (JSON is YAML: one serializer, no drift)."""
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "fleet-pipeline deployment role: only the calls the pipeline makes in member accounts "
                       "(generated by `python -m fleet.permissions --write`; do not edit by hand)",
        "Parameters": {
            "PipelinePrincipalArn": {"Type": "String", "Description": "The pipeline's principal in the management "
                                     "account (the aws_default connection's role or user ARN)"},
            "RoleName": {"Type": "String", "Default": "OrganizationAccountAccessRole",
                         "Description": "organization.pipeline_role in fleet.yaml"},
            "SmokeTestRoleName": {"Type": "String", "Default": "Developer",
                                  "Description": "catalog.smoke_test.principal's role: the pipeline creates it "
                                                 "(create_principal) and acts as it for the end-user smoke test"},
        },
        "Resources": {"FleetDeploymentRole": {"Type": "AWS::IAM::Role", "Properties": {
            "RoleName": {"Ref": "RoleName"},
            "AssumeRolePolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Effect": "Allow", "Principal": {"AWS": {"Ref": "PipelinePrincipalArn"}},
                "Action": "sts:AssumeRole"}]},
            "Policies": [{"PolicyName": "fleet-pipeline-calls", "PolicyDocument": {
                "Version": "2012-10-17", "Statement": _statements(MEMBER_CALLS, [
                    {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${SmokeTestRoleName}"}])}}],
            "Tags": [{"Key": "fleet:managed-by", "Value": "fleet-pipeline"}],
        }}},
        "Outputs": {"RoleArn": {"Value": {"Fn::GetAtt": ["FleetDeploymentRole", "Arn"]}}},
    }
    return json.dumps(template, indent=2) + "\n"


def rendered() -> dict[str, str]:
    return {POLICY_FILE: json.dumps(pipeline_policy(), indent=2) + "\n", TEMPLATE_FILE: bootstrap_template()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m fleet.permissions", description=__doc__.split("\n\n")[0])
    p.add_argument("--write", action="store_true", help=f"write the documents into {OUT.relative_to(ROOT)}/")
    p.add_argument("--check", action="store_true", help="exit 1 when the written documents are stale")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    stale = []
    for name, text in rendered().items():
        path = args.out / name
        if args.write:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        elif not path.is_file() or path.read_text() != text:
            stale.append(str(path))
    if args.check and stale:
        print("stale (run python -m fleet.permissions --write): " + ", ".join(stale), file=sys.stderr)
        return 1
    if not args.write and not args.check:
        print(json.dumps({"management": actions(MANAGEMENT_CALLS), "member": actions(MEMBER_CALLS)}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
