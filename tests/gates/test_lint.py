from fleet.gates import run_gates
from fleet.gates.command import check_command


def lint(root, cache, **kw):
    return [f for f in run_gates(root, gates={"lint"}, cache_dir=cache, **kw).findings]


def test_sample_templates_and_fleet_config_are_clean(fleet_repo, cache):
    assert lint(fleet_repo, cache) == []


def test_cfn_lint_error_names_rule_file_and_line(fleet_repo, cache):
    (fleet_repo / "templates" / "bad.yaml").write_text(
        "Resources:\n  Bucket:\n    Type: AWS::S3::Bucket\n    Properties:\n"
        "      NoSuchProperty: !Ref AWS::Region\n")
    found = lint(fleet_repo, cache)
    assert [(f.rule, f.file, f.line, f.severity) for f in found] == [
        ("lint:E3002", "templates/bad.yaml", 5, "error")]


def test_unparseable_template_is_a_finding_not_a_crash(fleet_repo, cache):
    (fleet_repo / "templates" / "broken.yaml").write_text("Resources:\n  A: [\n")
    found = lint(fleet_repo, cache)
    assert [(f.rule, f.file, f.severity) for f in found] == [
        ("lint:E0000", "templates/broken.yaml", "error")]
    assert found[0].line == 3


def test_oversized_template_is_reported_not_parsed(fleet_repo, cache, monkeypatch):
    from fleet.gates import workspace

    monkeypatch.setattr(workspace, "MAX_TEMPLATE_BYTES", 2000)
    (fleet_repo / "templates" / "big.yaml").write_text(
        "Resources:\n" + "".join(f"  B{i}:\n    Type: AWS::SNS::Topic\n" for i in range(200)))
    # in this process: the patched limit does not reach a child process
    found = [f for f in lint(fleet_repo, cache, isolate=False) if f.file == "templates/big.yaml"]
    assert found and "CloudFormation accepts at most" in found[0].message


def test_yamllint_checks_the_fleet_config(fleet_repo, cache):
    text = (fleet_repo / "fleet.yaml").read_text()
    (fleet_repo / "fleet.yaml").write_text(text + "approval:\n  approvers: [a]\n")  # duplicate key
    found = lint(fleet_repo, cache)
    assert any(f.rule == "lint:yamllint/key-duplicates" and f.file == "fleet.yaml" for f in found)


def test_a_bad_cfnlintrc_is_a_usage_error(fleet_repo, capsys):
    (fleet_repo / ".cfnlintrc").write_text("regions: 7\n")
    assert check_command(str(fleet_repo), history=False) == 2
    assert ".cfnlintrc" in capsys.readouterr().err
