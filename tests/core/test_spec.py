"""The fleet config validator: every bad input names the file, the key path, the line and what was expected."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "include" / "fleet.yaml").read_text()


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def problems_of(fleet_dir: Path, text: str):
    path = fleet_dir / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path)
    for p in err.value.problems:
        assert p.file == str(path)
    return err.value.problems


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def only(problems, key: str):
    found = [p for p in problems if p.key == key]
    assert found, [str(p) for p in problems]
    return found[0]


def test_the_sample_fleet_is_valid():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    assert len(fleet.accounts) == 14 and fleet.organization.management_account == "123456789012"
    assert [a.name for a in fleet.accounts_under(["Workloads"])][:3] == ["beta-test", "canary-01", "canary-02"]


@pytest.mark.parametrize("old, new, key, expected", [
    ('management_account: "123456789012"', 'management_account: "12345"',
     "organization.management_account", "12-digit AWS account id"),
    ("regions: [us-east-1, eu-west-1]", "regions: [us-east-1, mars-north-9x]",
     "organization.regions[1]", "an AWS region"),
    ("{name: canary-02, email: canary-02@example.com", "{name: canary-02, email: canary-01@example.com",
     "accounts[5].email", "a unique email"),
    ("{name: audit, email: audit@example.com, ou: Security", "{name: audit, email: audit@example.com, ou: Secruity",
     "accounts[0].ou", "an OU declared under ous"),
    ("{percent: 100}]", "{percent: 90}]", "environments.prod.waves[2]", "a last wave of {percent: 100}"),
    ("template: templates/security-baseline.yaml", "template: templates/missing.yaml",
     "baselines[0].template", "an existing template file"),
    ("  timeout_hours: 24", "  timeout_hours: 24\n  timout_minutes: 5",
     "approval.timout_minutes", "one of the known keys"),
    ("max_concurrent: 20", "max_concurrent: lots", "environments.prod.max_concurrent", "a whole number"),
    ("accounts: [beta-test]", "accounts: [beta-tset]", "environments.beta.accounts[0]",
     "an account declared under accounts"),
    ("services: [guardduty, securityhub, macie]", "services: [guardduty, inspector]",
     "guardrails.services[1]", "one of"),
])
def test_bad_value_names_file_key_line_and_expectation(fleet_dir, old, new, key, expected):
    assert old in SAMPLE
    text = SAMPLE.replace(old, new, 1)
    p = only(problems_of(fleet_dir, text), key)
    assert expected in p.expected
    needle = new.splitlines()[-1].split(":")[0].strip() if "\n" in new else new.split(",")[0].strip("{ ")
    assert p.line == line_of(text, needle), str(p)
    assert str(p).startswith(f"{fleet_dir / 'fleet.yaml'}:{p.line}: {key}: ")


def test_unparseable_yaml_names_the_line(fleet_dir):
    text = SAMPLE.replace("ous:\n", "ous: [\n", 1)
    (p,) = problems_of(fleet_dir, text)
    assert p.key == "" and "valid YAML" in p.expected and p.line is not None


def test_missing_section(fleet_dir):
    start = SAMPLE.index("environments:")
    end = SAMPLE.index("baselines:")
    p = only(problems_of(fleet_dir, SAMPLE[:start] + SAMPLE[end:]), "environments")
    assert "a mapping (missing)" in p.expected


def test_wrong_type(fleet_dir):
    p = only(problems_of(fleet_dir, SAMPLE.replace("ous:\n  - name: Security", "ous: Security\n  # - name: Security", 1)
                         .replace("  - name: Infrastructure\n  - name: Workloads\n    children:\n      - name: Beta\n"
                                  "      - name: Gamma\n      - name: Prod\n", "")), "ous")
    assert p.expected.startswith("a list")


def test_every_problem_is_reported_at_once(fleet_dir):
    text = SAMPLE.replace('"123456789012"', '"1"').replace("{percent: 100}]", "{percent: 50}]")
    keys = {p.key for p in problems_of(fleet_dir, text)}
    assert {"organization.management_account", "environments.prod.waves[2]"} <= keys


def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path / "nope.yaml")
    assert "cannot read the fleet config" in str(err.value)


def test_the_dag_refuses_a_bad_config_before_anything_is_uploaded(fleet_dir, monkeypatch):
    """The Source stage validates the config of the snapshot before touching AWS."""
    from fleet.stages import source

    (fleet_dir / "fleet.yaml").write_text(SAMPLE.replace('"123456789012"', '"1"'))

    class NoAws:
        def __getattr__(self, name):
            raise AssertionError(f"AWS used: {name}")

    with pytest.raises(ConfigError, match="organization.management_account"):
        source.snapshot_and_upload(NoAws(), fleet_dir)
