"""Hostile fleet.yaml input: the config loader refuses it quickly with the file and line (exit 2 from
`fleet validate`), and refuses paths that leave the repository (issue 12, items 2 and 7)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_config
from fleet import yamlsafe

REPO = Path(__file__).resolve().parents[2]
GUARD = 30  # seconds: a hang fails the test instead of the suite; the test asserts the error, not a time


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def validate(config: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-m", "fleet.cli", "validate", "--config", str(config)],
                          capture_output=True, text=True, timeout=GUARD, env=env)


def alias_bomb() -> str:
    lines = ['a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, 10):
        prev, cur = chr(ord("a") + i - 1), chr(ord("a") + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 9)}]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("name, content, line, words", [
    ("alias bomb", alias_bomb().encode(), None, "aliases expanding to at most"),
    ("100,000-deep nesting", ("x: " + "[" * 100_000 + "]" * 100_000 + "\n").encode(), 1, "nesting at most"),
    ("Latin-1", "organization:\n  name: caf\xe9\n".encode("latin-1"), 2, "UTF-8 text"),
    ("binary", b"organization: 1\n\x00\x01\x02\xff", 2, "binary data"),
], ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "")
def test_hostile_yaml_exits_2_with_file_and_line(fleet_dir: Path, name, content, line, words):
    config = fleet_dir / "fleet.yaml"
    config.write_bytes(content)
    done = validate(config)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert words in done.stderr and str(config) in done.stderr
    assert "Traceback" not in done.stderr
    if line:
        assert f"{config}:{line}:" in done.stderr


def test_alias_bomb_names_the_line_of_the_alias(fleet_dir: Path):
    config = fleet_dir / "fleet.yaml"
    config.write_text(alias_bomb())
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert err.value.problems[0].line is not None and err.value.problems[0].line > 1


def test_a_50_mb_file_is_refused_without_reading_it(fleet_dir: Path):
    config = fleet_dir / "fleet.yaml"
    with config.open("w") as f:
        f.write((REPO / "include" / "fleet.yaml").read_text())
        block = "# " + "x" * 1000 + "\n"
        for _ in range(50 * 1024):
            f.write(block)
    done = validate(config)
    assert done.returncode == 2, done.stderr
    assert f"a file of at most {yamlsafe.MAX_BYTES:,} bytes" in done.stderr and str(config) in done.stderr


def test_duplicate_management_account_names_both_lines(fleet_dir: Path):
    config = fleet_dir / "fleet.yaml"
    text = config.read_text()
    first = next(i for i, l in enumerate(text.splitlines(), 1) if "management_account:" in l)
    lines = text.splitlines()
    lines.insert(first, '  management_account: "210987654321"')
    config.write_text("\n".join(lines) + "\n")
    done = validate(config)
    assert done.returncode == 2
    assert (f"{config}:{first + 1}: <root>: unique keys in a mapping, 'management_account' appears on line "
            f"{first} and again on line {first + 1}") in done.stderr


def test_anchors_and_aliases_within_the_budget_still_work(fleet_dir: Path):
    config = fleet_dir / "fleet.yaml"
    text = config.read_text().replace("regions: [us-east-1, eu-west-1]", "regions: &regions [us-east-1, eu-west-1]", 1)
    assert "&regions" in text
    config.write_text(text)
    assert load_config(config).organization.regions == ("us-east-1", "eu-west-1")


# -- item 2: paths stay inside the repository -------------------------------------------------------

@pytest.mark.parametrize("key, old, new, words", [
    ("baselines[1].template", "template: templates/security-baseline.yaml", "template: /etc/hostname",
     "absolute path '/etc/hostname'"),
    ("baselines[1].template", "template: templates/security-baseline.yaml",
     "template: templates/../../outside.yaml", "climbs out with '..'"),
    ("guardrails.scps[0]", "scps: [policies/scp/deny-leave-organization.json]", "scps: [/etc/passwd]",
     "absolute path '/etc/passwd'"),
    ("catalog.products[0].template", "template: templates/products/encrypted-bucket.yaml",
     "template: ../outside.yaml", "climbs out with '..'"),
    ("catalog.launch_role_template", "launch_role_template: templates/catalog-launch-role.yaml",
     "launch_role_template: /etc/hostname", "absolute path"),
])
def test_paths_leaving_the_repo_are_refused_at_load(fleet_dir: Path, key, old, new, words):
    (fleet_dir.parent / "outside.yaml").write_text("Resources: {}\n")
    config = fleet_dir / "fleet.yaml"
    text = config.read_text()
    assert old in text
    config.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    found = [p for p in err.value.problems if p.key == key]
    assert found and words in found[0].expected, [str(p) for p in err.value.problems]
    line = next(i for i, l in enumerate(config.read_text().splitlines(), 1) if new.split(": ", 1)[1] in l)
    assert found[0].line == line
    done = validate(config)
    assert done.returncode == 2 and key in done.stderr


def test_a_symlink_leaving_the_repo_is_refused_at_load(fleet_dir: Path):
    secret = fleet_dir.parent / "worker-file.yaml"
    secret.write_text("Resources: {}\n")
    (fleet_dir / "templates" / "link.yaml").symlink_to(secret)
    config = fleet_dir / "fleet.yaml"
    config.write_text(config.read_text().replace("template: templates/security-baseline.yaml",
                                                 "template: templates/link.yaml", 1))
    with pytest.raises(ConfigError) as err:
        load_config(config)
    assert any(p.key == "baselines[1].template" and "symlink" in p.expected for p in err.value.problems)


def test_a_symlink_inside_the_repo_is_fine(fleet_dir: Path):
    (fleet_dir / "templates" / "link.yaml").symlink_to(fleet_dir / "templates" / "security-baseline.yaml")
    config = fleet_dir / "fleet.yaml"
    config.write_text(config.read_text().replace("template: templates/security-baseline.yaml",
                                                 "template: templates/link.yaml", 1))
    assert load_config(config).baselines[1].template == "templates/link.yaml"


# -- the same reader in front of cfn-lint's decoder, for the templates the gates and deploys parse -------

def test_templates_are_read_through_the_same_limits():
    from fleet.gates.workspace import decode_template
    from fleet.templates import TemplateError, load_template

    bomb = "Resources:\n  X: {Type: AWS::SNS::Topic}\n" + alias_bomb()
    data, problem = decode_template(bomb)
    assert data is None and "aliases expanding to at most" in problem[1]
    with pytest.raises(TemplateError, match="aliases expanding"):
        load_template(bomb, "t.yaml")
    dup = "Resources:\n  X: {Type: AWS::SNS::Topic}\n  X: {Type: AWS::SQS::Queue}\n"
    data, problem = decode_template(dup)
    assert data is None and problem[0] == 3 and "'X' appears on line 2 and again on line 3" in problem[1]
