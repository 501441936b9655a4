"""The rule registry: complete, consistent with the gates' code, and the README's table."""

import re
import shutil
from pathlib import Path

import pytest

from fleet.gates import rules as registry_module
from fleet.gates import run_gates
from fleet.gates.rules import BEGIN, END, known, registry, render_markdown, replace_table

from .conftest import INCLUDE, REPO

GATES_DIR = REPO / "plugins" / "fleet" / "gates"


def test_readme_rule_table_is_generated_from_the_registry():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    expected = replace_table(readme, render_markdown(registry()))
    assert readme == expected, (
        "README.md's rule table differs from the rule registry: "
        "run `python -m fleet.gates.rules --write-readme` and commit README.md")


def test_every_check_has_a_description_and_both_examples():
    checks = [r for r in registry() if r.kind == "check"]
    assert {r.gate for r in checks} == {"policy", "iam"}
    for rule in checks:
        assert rule.description, f"{rule.id}: no description (header comment)"
        if rule.gate == "policy":
            for example in (rule.passing, rule.failing):
                assert (REPO / example).is_file(), f"{rule.id}: {example} missing"


def test_wildcard_admin_is_checked_once():
    ids = [r.id for r in registry()]
    assert "iam:wildcard-admin" in ids
    assert not [i for i in ids if "wildcard" in i and i != "iam:wildcard-admin"]


# Finding("gate", "gate:name", ...) with a literal rule id (f-strings are the tool families)
_FINDING_CALL = re.compile(r'Finding\(\s*"\w+",\s*"([^"{]+)"')


def test_every_rule_id_written_in_the_gates_code_is_registered():
    rules = registry()
    written = {m.group(1) for path in GATES_DIR.glob("*.py")
               for m in _FINDING_CALL.finditer(path.read_text(encoding="utf-8"))}
    # the scan does see the gates' literals, across lines too
    assert {"policy:engine-missing", "secrets:too-large", "unit:step-undefined"} <= written
    assert sorted(i for i in written if not known(i, rules)) == []


def test_findings_from_a_run_over_broken_inputs_are_all_registered(fleet_repo, tmp_path):
    for rule_dir in (INCLUDE / "policies" / "tests").iterdir():
        shutil.copy(rule_dir / "fail.yaml", fleet_repo / "templates" / f"{rule_dir.name}.yaml")
    (fleet_repo / "templates" / "admin.yaml").write_text(
        "Resources:\n  P:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n"
        "      PolicyDocument: {Statement: [{Effect: Allow, Action: '*', Resource: '*'},\n"
        "                                   {Effect: Allow, Action: 'nosuch:X', Resource: '*'}]}\n")
    (fleet_repo / "templates" / "broken.yaml").write_text("Resources: [\n")
    found = run_gates(fleet_repo, history=False, cache_dir=tmp_path / "cache").findings
    rules = registry()
    ids = {f.rule for f in found}
    assert {"iam:wildcard-admin", "iam:unknown-service", "policy:kms_key_rotation",
            "lint:E0000"} <= ids
    assert sorted(i for i in ids if not known(i, rules)) == []


def test_unknown_ids_are_not_known():
    rules = registry()
    assert not known("policy:no_such_rule", rules)
    assert not known("lint:not-a-cfn-lint-id", rules)
    assert not known("iam/wildcard-admin", rules)


def test_readme_without_markers_is_a_clear_error():
    with pytest.raises(ValueError, match="README.md: expected the markers"):
        replace_table("# no table here\n", "| x |\n")


def test_write_readme_replaces_only_the_table(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# t\n\nbefore\n{BEGIN}\nstale\n{END}\nafter\n")
    assert registry_module.main(["--write-readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# t\n\nbefore\n") and text.endswith(f"{END}\nafter\n")
    assert "stale" not in text and "| `iam:wildcard-admin` | error | check |" in text


def test_json_format_lists_every_rule(capsys):
    import json

    assert registry_module.main(["--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in data] == [r.id for r in registry()]
    assert {"id", "gate", "severity", "kind", "description", "source"} <= set(data[0])


def test_an_unreadable_rule_file_is_named(tmp_path, capsys):
    (tmp_path / "guard").mkdir()
    (tmp_path / "guard" / "bad.guard").write_bytes(b"\xff\xfe")
    assert registry_module.main(["--rules-dir", str(tmp_path)]) == 2
    assert "bad.guard: cannot read rule file" in capsys.readouterr().err


def test_fleet_rules_command_prints_the_table(capsys):
    from fleet.cli import main

    assert main(["rules"]) == 0
    assert capsys.readouterr().out == render_markdown(registry())
