import boto3
import pytest
from botocore.stub import Stubber

from fleet.gates import run_gates
from fleet.gates import iam
from fleet.gates.workspace import Workspace


def template(tmp_path, policy_yaml: str, kind="AWS::IAM::ManagedPolicy", key="PolicyDocument"):
    root = tmp_path / "repo"
    root.mkdir(exist_ok=True)
    body = "\n".join("        " + line for line in policy_yaml.strip().splitlines())
    (root / "t.yaml").write_text(
        f"Resources:\n  P:\n    Type: {kind}\n    Properties:\n      {key}:\n{body}\n")
    return root


def rules_of(root):
    return sorted(f.rule for f in iam.run(Workspace(root)) if f.rule != "iam:access-analyzer-not-run")


def test_wildcard_action_on_wildcard_resource_is_an_error(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Action: "*", Resource: "*"}]')
    found = [f for f in iam.run(Workspace(root)) if f.rule == "iam:wildcard-admin"]
    assert found and found[0].severity == "error" and found[0].line == 6


def test_default_kms_key_policy_is_not_an_error(tmp_path):
    root = template(tmp_path, """
Statement:
  - Effect: Allow
    Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
    Action: "kms:*"
    Resource: "*"
""", kind="AWS::KMS::Key", key="KeyPolicy")
    assert rules_of(root) == []


@pytest.mark.parametrize("action", ["iam:PassRole", "iam:Put*", "sts:AssumeRole",
                                    "iam:CreatePolicyVersion"])
def test_privilege_escalation_on_any_resource(tmp_path, action):
    root = template(tmp_path, f'Statement: [{{Effect: Allow, Action: "{action}", Resource: "*"}}]')
    assert "iam:privilege-escalation" in rules_of(root)


def test_escalation_action_scoped_to_one_role_is_fine(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Action: "iam:PassRole", '
                              'Resource: "arn:aws:iam::123456789012:role/app"}]')
    assert rules_of(root) == []


def test_unknown_service_and_action_from_the_catalog(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Action: ["s3:GetObjekt", '
                              '"nosuchsvc:Get"], Resource: "arn:aws:s3:::b/*"}]')
    assert rules_of(root) == ["iam:unknown-action", "iam:unknown-service"]


def test_public_bucket_policy_is_an_error(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Principal: "*", Action: "s3:GetObject",'
                              ' Resource: "arn:aws:s3:::b/*"}]', kind="AWS::S3::BucketPolicy")
    assert rules_of(root) == ["iam:public-principal"]


def test_sample_templates_pass_local_iam_checks(fleet_repo, cache):
    found = run_gates(fleet_repo, gates={"iam"}, cache_dir=cache).findings
    assert [f.severity for f in found] == ["warning"]
    assert "not validated via IAM Access Analyzer" in found[0].message


def _client():
    return boto3.client("accessanalyzer", region_name="us-east-1",
                        aws_access_key_id="x", aws_secret_access_key="y")


def test_access_analyzer_findings_become_findings(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Action: "s3:GetObject", '
                              'Resource: "arn:aws:s3:::b/*"}]')
    client = _client()
    with Stubber(client) as stub:
        stub.add_response("validate_policy", {"findings": [{
            "findingDetails": "Add a Version element", "findingType": "SUGGESTION",
            "issueCode": "MISSING_VERSION", "learnMoreLink": "https://x", "locations": []}]})
        found = iam.run(Workspace(root), aws_client=client)
    assert [(f.rule, f.severity) for f in found] == [("iam:access-analyzer/MISSING_VERSION", "warning")]


def test_unreachable_access_analyzer_is_exactly_one_warning(tmp_path):
    root = template(tmp_path, 'Statement: [{Effect: Allow, Action: "s3:GetObject", '
                              'Resource: "arn:aws:s3:::b/*"}]')
    (root / "u.yaml").write_text((root / "t.yaml").read_text())
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("validate_policy", service_error_code="NotImplemented")
        found = iam.run(Workspace(root), aws_client=client)
    assert [(f.rule, f.severity) for f in found] == [("iam:access-analyzer-not-run", "warning")]
    assert "NotImplemented" in found[0].message


def test_notaction_allow_on_any_resource_is_an_error(tmp_path):
    # an error since it replaced the Rego rule iam_no_wildcard_admin, which made it one
    root = template(tmp_path, 'Statement: [{Effect: Allow, NotAction: "iam:*", Resource: "*"}]')
    found = [f for f in iam.run(Workspace(root)) if f.rule == "iam:notaction-allow"]
    assert [(f.severity, f.line) for f in found] == [("error", 6)]
