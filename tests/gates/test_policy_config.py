"""Issue 13 items 5-6: rules configured in fleet.yaml, third-party Guard packs with their own tests."""

from __future__ import annotations

import shutil

from fleet.gates import run_gates

from .conftest import INCLUDE

UNTAGGED = "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n    Properties: {KmsMasterKeyId: k}\n"


def policy(root, cache, rules=None):
    return run_gates(root, gates={"policy"}, cache_dir=cache, rules_dir=rules).findings


def _set_parameters(root, text: str) -> None:
    config = (root / "fleet.yaml").read_text()
    head, _, _ = config.partition("\npolicies:")
    (root / "fleet.yaml").write_text(head + text)


def test_required_tags_come_from_fleet_yaml(fleet_repo, cache):
    _set_parameters(fleet_repo, "\npolicies:\n  parameters:\n    required_tag_keys: [team, cost-center]\n")
    (fleet_repo / "templates" / "t.yaml").write_text(UNTAGGED)
    found = [f for f in policy(fleet_repo, cache) if f.rule == "policy:required_tags"
             and f.file == "templates/t.yaml"]
    assert sorted(f.message.rsplit(" ", 1)[1] for f in found) == ["cost-center", "team"]


def test_an_unconfigured_rule_says_so_once_and_checks_nothing(fleet_repo, cache):
    _set_parameters(fleet_repo, "\n")
    (fleet_repo / "templates" / "t.yaml").write_text(UNTAGGED)
    found = policy(fleet_repo, cache)
    assert not [f for f in found if f.rule == "policy:required_tags"]
    said = [f for f in found if f.rule == "policy:not-configured"]
    assert len(said) == 1 and said[0].severity == "warning"
    assert "required_tag_keys" in said[0].message and "required_tags" in said[0].message
    # its examples still run (with tests/required_tags/parameters.yaml): no broken-rule finding
    assert not [f for f in found if f.rule.startswith("policy:rule-example")]


def _rules_with(tmp_path, name: str, guard: str):
    rules = tmp_path / "rules"
    shutil.copytree(INCLUDE / "policies", rules, ignore=shutil.ignore_patterns("scp"))
    (rules / "guard" / f"{name}.guard").write_text(guard)
    return rules


def test_guard_rules_read_parameters_as_data(fleet_repo, cache, tmp_path):
    rules = _rules_with(tmp_path, "allowed_types", (
        "# fleet:parameter allowed_instance_types\n"
        "# Instance types: only the configured ones.\n"
        "let instances = Resources.*[ Type == 'AWS::EC2::Instance' ]\n"
        "let allowed = parameters.allowed_instance_types\n"
        "rule allowed_types when %instances !empty {\n"
        "    %instances.Properties.InstanceType IN %allowed\n"
        "}\n"))
    examples = rules / "tests" / "allowed_types"
    examples.mkdir()
    (examples / "parameters.yaml").write_text("allowed_instance_types: [t3.micro]\n")
    (examples / "pass.yaml").write_text(
        "Resources:\n  I:\n    Type: AWS::EC2::Instance\n    Properties: {InstanceType: t3.micro}\n")
    (examples / "fail.yaml").write_text(
        "Resources:\n  I:\n    Type: AWS::EC2::Instance\n    Properties: {InstanceType: x1.32xlarge}\n")
    _set_parameters(fleet_repo, "\npolicies:\n  parameters:\n    required_tag_keys: [a]\n"
                                "    allowed_instance_types: [m7g.large]\n")
    (fleet_repo / "templates" / "i.yaml").write_text(
        "Resources:\n  Small:\n    Type: AWS::EC2::Instance\n    Properties: {InstanceType: t3.micro}\n"
        "  Big:\n    Type: AWS::EC2::Instance\n    Properties: {InstanceType: m7g.large}\n")
    found = policy(fleet_repo, cache, rules)
    assert not [f for f in found if f.rule.startswith("policy:rule-example")], found
    hits = [f for f in found if f.rule == "policy:allowed_types"]
    assert hits and all(f.file == "templates/i.yaml" for f in hits)
    assert {f.line for f in hits} == {4}  # Small (t3.micro) is not allowed by fleet.yaml


REGISTRY_RULE = """let topics = Resources.*[ Type == 'AWS::SNS::Topic' ]
rule SNS_ENCRYPTED_KMS when %topics !empty {
    %topics.Properties.KmsMasterKeyId exists
}
"""

REGISTRY_TESTS = """- name: Empty, SKIP
  input: {}
  expectations: {rules: {SNS_ENCRYPTED_KMS: SKIP}}
- name: plain topic, FAIL
  input: {Resources: {T: {Type: AWS::SNS::Topic}}}
  expectations: {rules: {SNS_ENCRYPTED_KMS: FAIL}}
- name: encrypted topic, PASS
  input: {Resources: {T: {Type: AWS::SNS::Topic, Properties: {KmsMasterKeyId: k}}}}
  expectations: {rules: {SNS_ENCRYPTED_KMS: PASS}}
"""


def test_a_registry_rule_with_cfn_guard_tests_needs_no_hand_written_examples(fleet_repo, cache,
                                                                             tmp_path):
    rules = tmp_path / "rules"
    shutil.copytree(INCLUDE / "policies", rules, ignore=shutil.ignore_patterns("scp"))
    pack = rules / "guard" / "registry" / "rules" / "aws" / "sns"
    (pack / "tests").mkdir(parents=True)
    (pack / "sns_encrypted_kms.guard").write_text(REGISTRY_RULE)
    (pack / "tests" / "sns_encrypted_kms_tests.yaml").write_text(REGISTRY_TESTS)
    # a pack rule with the name of one of ours, stricter than ours: ours keeps its own examples
    (pack.parent / "rds").mkdir()
    (pack.parent / "rds" / "rds_storage_encrypted.guard").write_text(
        "let dbs = Resources.*[ Type == 'AWS::RDS::DBInstance' ]\n"
        "rule RDS_STORAGE_ENCRYPTED when %dbs !empty { %dbs.Properties.StorageEncrypted == true }\n")
    (pack.parent / "rds" / "rds_storage_encrypted_tests.yaml").write_text(
        "- name: plain\n  input: {Resources: {D: {Type: AWS::RDS::DBInstance}}}\n"
        "  expectations: {rules: {RDS_STORAGE_ENCRYPTED: FAIL}}\n")
    (fleet_repo / "templates" / "t.yaml").write_text(
        "Resources:\n  Topic:\n    Type: AWS::SNS::Topic\n")
    found = policy(fleet_repo, cache, rules)
    assert not [f for f in found if f.rule.startswith("policy:rule-example")], found
    # named by its path in the pack: packs reuse names (the registry has its own
    # rds_storage_encrypted), and a name picks a rule's examples
    assert any(f.rule == "policy:registry/rules/aws/sns/sns_encrypted_kms"
               and f.file == "templates/t.yaml" for f in found)

    # a test case whose expectation the rule does not meet: the rule is broken
    (pack / "tests" / "sns_encrypted_kms_tests.yaml").write_text(
        REGISTRY_TESTS.replace("SNS_ENCRYPTED_KMS: FAIL", "SNS_ENCRYPTED_KMS: PASS"))
    broken = [f for f in policy(fleet_repo, cache, rules)
              if f.rule == "policy:rule-example-failed"]
    assert len(broken) == 1 and "plain topic" in broken[0].message
    assert broken[0].file.endswith("sns_encrypted_kms_tests.yaml")
