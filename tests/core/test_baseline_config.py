"""Baselines' targets, parameters, overrides, depends_on and on_removal in fleet.yaml: what the loader
refuses (file, key, line, expectation), what it builds, and per-account parameter resolution."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import params
from fleet.cli import main
from fleet.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = (REPO / "include" / "fleet.yaml").read_text()
BASELINES = SAMPLE[SAMPLE.index("baselines:"):SAMPLE.index("guardrails:")]


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def with_baselines(fleet_dir: Path, baselines: str) -> Path:
    path = fleet_dir / "fleet.yaml"
    path.write_text(SAMPLE.replace(BASELINES, baselines.strip("\n") + "\n\n"))
    return path


def problems(path: Path) -> list:
    with pytest.raises(ConfigError) as err:
        load_config(path)
    return err.value.problems


def line_of(path: Path, needle: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


def test_the_sample_builds_targets_dependencies_and_overrides():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    network, security = fleet.baseline("network"), fleet.baseline("security-baseline")
    assert network.targets.ous == ("Infrastructure", "Prod") and security.targets is None
    assert security.depends_on == ("network",) and security.on_removal == "delete"
    assert security.overrides[0].accounts == ("app-prod-07",)
    assert [b.name for b in fleet.deployment_order()] == ["network", "security-baseline"]


CYCLE = """
baselines:
  - name: a
    template: templates/security-baseline.yaml
    regions: [us-east-1]
    depends_on: [c]
  - name: b
    template: templates/security-baseline.yaml
    regions: [us-east-1]
    depends_on: [a]
  - name: c
    template: templates/security-baseline.yaml
    regions: [us-east-1]
    depends_on: [b]
"""


def test_a_dependency_cycle_is_refused_with_file_key_and_line(fleet_dir):
    path = with_baselines(fleet_dir, CYCLE)
    found = problems(path)
    assert len(found) == 1, [str(p) for p in found]
    p = found[0]
    assert p.file == str(path) and p.key == "baselines[0].depends_on"
    assert p.line == line_of(path, "depends_on: [c]")
    assert "no dependency cycle, got a -> c -> b -> a" in p.expected


def test_fleet_validate_exits_2_on_a_cycle(fleet_dir, capsys):
    path = with_baselines(fleet_dir, CYCLE)
    with pytest.raises(SystemExit) as stop:
        main(["validate", "--config", str(path)])
    assert stop.value.code == 2
    assert "no dependency cycle" in capsys.readouterr().err


BAD_REFERENCES = """
baselines:
  - name: network
    template: templates/network-baseline.yaml
    regions: [us-east-1]
    targets: {ous: [Prodd], accounts: [app-prod-99]}
    parameters: {VpcCidr: "{{ account.tags.vpc_cidr }}"}
  - name: security-baseline
    template: templates/security-baseline.yaml
    regions: [us-east-1, eu-west-1]
    depends_on: [network, nosuch]
    parameters:
      NetworkVpcId: "{{ outputs.network.VpcId }}"
      AlertEmail: "{{ outputs.ghost.Email }}"
      RetentionDays: "{{ account.birthday }}"
    overrides:
      - accounts: [app-prod-77]
        parameters: {AlertEmail: "{{ outputs.network.NoSuchOutput }}"}
      - ous: [Prod]
        accounts: [app-prod-01]
        parameters: {AlertEmail: "{{ account.tags.team"}
  - name: logging
    template: templates/security-baseline.yaml
    regions: [us-east-1]
    parameters: {NetworkVpcId: "{{ outputs.network.VpcId }}"}
"""


@pytest.mark.parametrize("key, expected", [
    ("baselines[0].targets.ous[0]", "an OU declared under ous, got 'Prodd'"),
    ("baselines[0].targets.accounts[0]", "an account declared under accounts, got 'app-prod-99'"),
    ("baselines[1].depends_on[1]", "a baseline declared under baselines, got 'nosuch'"),
    ("baselines[1].parameters.NetworkVpcId", "but network is not deployed in ['eu-west-1']"),
    ("baselines[1].parameters.AlertEmail", "outputs of a baseline declared under baselines, got 'ghost'"),
    ("baselines[1].parameters.RetentionDays", "account.id, account.name, account.ou or account.tags.<key>"),
    ("baselines[1].overrides[0].accounts[0]", "an account declared under accounts, got 'app-prod-77'"),
    ("baselines[1].overrides[0].parameters.AlertEmail", "an output the template of network declares (VpcCidr, VpcId)"),
    ("baselines[1].overrides[1]", "exactly one of accounts or ous"),
    ("baselines[1].overrides[1].parameters.AlertEmail", "a valid expression"),
    ("baselines[2].parameters.NetworkVpcId", "outputs of a baseline listed in depends_on, got 'network'"),
])
def test_every_reference_the_loader_can_check_is_checked(fleet_dir, key, expected):
    path = with_baselines(fleet_dir, BAD_REFERENCES)
    found = {p.key: p for p in problems(path)}
    assert key in found, sorted(found)
    assert expected in found[key].expected
    assert found[key].line is not None


def test_the_schema_refuses_an_unknown_on_removal(fleet_dir):
    path = fleet_dir / "fleet.yaml"
    path.write_text(SAMPLE.replace("    depends_on: [network]\n", "    depends_on: [network]\n    on_removal: keep\n"))
    p = next(p for p in problems(path) if p.key == "baselines[1].on_removal")
    assert p.expected == "delete or retain, got 'keep'" and p.line == line_of(path, "on_removal: keep")


SCOPE = params.account_scope("111111111111", "app-prod-07", ("Workloads", "Prod"), {"vpc_cidr": "10.7.0.0/16"})


def test_parameters_resolve_from_the_account_and_the_most_specific_override_wins():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    security = fleet.baseline("security-baseline")
    resolved, waiting = params.for_account(security, SCOPE, ("Workloads", "Prod"))
    assert resolved["AlertEmail"] == "identity-oncall@example.com" and resolved["RetentionDays"] == "365"
    assert waiting == {"NetworkVpcId": "{{ outputs.network.VpcId }}"}
    assert params.with_outputs(waiting, SCOPE, {"network": {"VpcId": "vpc-1"}}, "here") == {"NetworkVpcId": "vpc-1"}
    network, _ = params.for_account(fleet.baseline("network"), SCOPE, ("Workloads", "Prod"))
    assert network == {"VpcCidr": "10.7.0.0/16"}


def test_an_account_override_beats_a_nested_ou_which_beats_its_parent(fleet_dir):
    path = with_baselines(fleet_dir, """
baselines:
  - name: security-baseline
    template: templates/security-baseline.yaml
    regions: [us-east-1]
    parameters: {RetentionDays: "1", AlertEmail: "{{ account.name }}@example.com"}
    overrides:
      - accounts: [app-prod-07]
        parameters: {RetentionDays: "4"}
      - ous: [Prod]
        parameters: {RetentionDays: "3"}
      - ous: [Workloads]
        parameters: {RetentionDays: "2"}
""")
    b = load_config(path).baseline("security-baseline")
    values = lambda name, path: params.for_account(b, {**SCOPE, "name": name}, path)[0]  # noqa: E731
    assert values("app-prod-07", ("Workloads", "Prod"))["RetentionDays"] == "4"
    assert values("app-prod-01", ("Workloads", "Prod")) == {"RetentionDays": "3", "AlertEmail": "app-prod-01@example.com"}
    assert values("beta-test", ("Workloads", "Beta"))["RetentionDays"] == "2"
    assert values("audit", ("Security",))["RetentionDays"] == "1"


def test_unresolvable_values_name_the_parameter_and_what_is_missing():
    fleet = load_config(REPO / "include" / "fleet.yaml")
    untagged = {**SCOPE, "tags": {}}
    with pytest.raises(params.ParameterError, match="parameter VpcCidr: account.tags.vpc_cidr: account app-prod-07 "
                                                    "has no tag 'vpc_cidr'"):
        params.for_account(fleet.baseline("network"), untagged, ("Workloads", "Prod"))
    waiting = {"NetworkVpcId": "{{ outputs.network.VpcId }}"}
    with pytest.raises(params.ParameterError, match="baseline network is not deployed in app-prod-07/us-east-1"):
        params.with_outputs(waiting, SCOPE, {}, "app-prod-07/us-east-1")
    with pytest.raises(params.ParameterError, match="has no output 'VpcId'"):
        params.with_outputs(waiting, SCOPE, {"network": {"Other": "x"}}, "app-prod-07/us-east-1")


def test_the_sandbox_refuses_python_internals():
    with pytest.raises(params.ParameterError, match="unsafe"):
        params.render("P", "{{ account.__class__.__mro__ }}", SCOPE, {})
