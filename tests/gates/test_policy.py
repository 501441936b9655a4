import shutil
from pathlib import Path

import pytest

from fleet.gates import run_gates

from .conftest import INCLUDE

RULES = INCLUDE / "policies"
ALL_RULES = sorted(p.stem for p in [*RULES.glob("guard/*.guard"), *RULES.glob("rego/*.rego")])


def policy(root, cache, rules=None):
    return run_gates(root, gates={"policy"}, rules_dir=rules, cache_dir=cache).findings


def test_at_least_ten_rules_each_with_examples():
    assert len(ALL_RULES) >= 10
    for name in ALL_RULES:
        assert (RULES / "tests" / name / "pass.yaml").is_file()
        assert (RULES / "tests" / name / "fail.yaml").is_file()


def test_sample_templates_have_no_policy_error(fleet_repo, cache):
    found = policy(fleet_repo, cache, RULES)
    assert [f for f in found if f.severity == "error"] == []


@pytest.mark.parametrize("name", ALL_RULES)
def test_each_rule_flags_its_failing_example_only(name, tmp_path):
    root = tmp_path / "repo"
    for expect in ("pass", "fail"):
        (root / "templates").mkdir(parents=True, exist_ok=True)
        shutil.copy(RULES / "tests" / name / f"{expect}.yaml", root / "templates" / f"{expect}.yaml")
    values = RULES / "tests" / name / "parameters.yaml"
    if values.is_file():  # a parameterised rule checks templates only once configured
        import yaml

        config = {"policies": {"parameters": yaml.safe_load(values.read_text())}}
        (root / "fleet.yaml").write_text(yaml.safe_dump(config))
    found = policy(root, tmp_path / "cache", RULES)
    assert not [f for f in found if f.rule.startswith("policy:rule-example")], found
    flagged = {f.file for f in found if f.rule == f"policy:{name}"}
    assert flagged == {"templates/fail.yaml"}


def _copy_rules(tmp_path) -> Path:
    rules = tmp_path / "rules"
    shutil.copytree(RULES, rules, ignore=shutil.ignore_patterns("scp"))
    return rules


def test_guard_rule_with_syntax_error_is_a_finding(fleet_repo, tmp_path):
    rules = _copy_rules(tmp_path)
    (rules / "guard" / "kms_key_rotation.guard").write_text(
        "rule kms_key_rotation {\n  Resources.*.Type ==\n}\n")
    found = policy(fleet_repo, tmp_path / "cache", rules)
    syntax = [f for f in found if f.rule == "policy:guard-syntax"]
    assert syntax and syntax[0].file.endswith("kms_key_rotation.guard") and syntax[0].line
    # the broken rule no longer catches its failing example: the rule test says so too
    assert any(f.rule == "policy:rule-example-failed" and "kms_key_rotation" in f.message
               for f in found)


def test_rego_rule_with_syntax_error_is_a_finding(fleet_repo, tmp_path):
    rules = _copy_rules(tmp_path)
    (rules / "rego" / "required_tags.rego").write_text("package fleet.rules.required_tags\n"
                                                       "deny if {\n")
    found = policy(fleet_repo, tmp_path / "cache", rules)
    syntax = [f for f in found if f.rule == "policy:rego-syntax"]
    assert syntax and syntax[0].file.endswith("required_tags.rego") and syntax[0].line


def test_rule_that_stops_catching_its_example_is_a_finding(fleet_repo, tmp_path):
    rules = _copy_rules(tmp_path)
    shutil.copy(rules / "tests" / "sns_topic_encrypted" / "pass.yaml",
                rules / "tests" / "sns_topic_encrypted" / "fail.yaml")
    found = policy(fleet_repo, tmp_path / "cache", rules)
    errors = [f for f in found if f.severity == "error"]
    assert [f.rule for f in errors] == ["policy:rule-example-failed"]
    assert "rule sns_topic_encrypted does not flag its failing example" in errors[0].message


def test_missing_guard_engine_is_an_error_not_a_silent_pass(fleet_repo, tmp_path, monkeypatch):
    monkeypatch.setenv("FLEET_CFN_GUARD", str(tmp_path / "no-such-cfn-guard"))
    found = policy(fleet_repo, tmp_path / "cache", RULES)
    missing = [f for f in found if f.rule == "policy:engine-missing" and "cfn-guard" in f.message]
    assert missing and missing[0].severity == "error" and "install_tools.py" in missing[0].message


def test_violations_name_template_rule_and_line(fleet_repo, cache):
    (fleet_repo / "templates" / "open.yaml").write_text(
        "Resources:\n  Web:\n    Type: AWS::EC2::SecurityGroup\n    Properties:\n"
        "      GroupDescription: open\n      SecurityGroupIngress:\n"
        "        - {IpProtocol: tcp, FromPort: 22, ToPort: 22, CidrIp: 0.0.0.0/0}\n"
        "      Tags: [{Key: fleet:managed-by, Value: x}]\n")
    found = [f for f in policy(fleet_repo, cache, RULES) if f.file == "templates/open.yaml"]
    assert {f.rule for f in found} == {"policy:sg_no_world_ingress"}
    assert all(f.line == 7 for f in found)


def test_policies_in_the_scanned_repo_win_over_the_bundled_ones(fleet_repo, tmp_path):
    rules = fleet_repo / "policies"
    (rules / "guard").mkdir(parents=True)
    (rules / "guard" / "no_topics.guard").write_text(
        "rule no_topics { Resources.*[ Type == 'AWS::SNS::Topic' ] empty }\n")
    found = run_gates(fleet_repo, gates={"policy"}, cache_dir=tmp_path / "c").findings
    assert {f.rule for f in found} == {"policy:no_topics", "policy:rule-example-missing"}
