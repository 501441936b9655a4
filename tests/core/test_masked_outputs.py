"""Stack outputs named sensitive in the config, or mirroring a NoEcho parameter, never leave
CloudFormation: the deploy result (hence XCom, the ledger and the report) holds a mask."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fleet import deploy, stacks
from fleet.config import Baseline, load_config
from fleet.org import LiveAccount

REPO = Path(__file__).resolve().parents[2]

TEMPLATE = {
    "Parameters": {"DbPassword": {"Type": "String", "NoEcho": True, "Default": "hunter2-hunter2"},
                   "Team": {"Type": "String", "Default": "payments"}},
    "Resources": {"P": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "x"}}},
    "Outputs": {"Password": {"Value": {"Ref": "DbPassword"}},
                "Dsn": {"Value": {"Fn::Sub": "postgres://app:${DbPassword}@db"}},
                "ApiToken": {"Value": "tok-123"},
                "Team": {"Value": {"Ref": "Team"}}},
}


def test_outputs_mirroring_a_noecho_parameter_are_found():
    assert deploy.noecho_outputs(TEMPLATE) == {"Password", "Dsn"}
    assert deploy.noecho_outputs({"Outputs": TEMPLATE["Outputs"]}) == frozenset()


def test_baseline_targets_mask_config_named_and_noecho_outputs(tmp_path):
    (tmp_path / "t.json").write_text(json.dumps(TEMPLATE))
    fleet = load_config(REPO / "include" / "fleet.yaml")
    baseline = Baseline("db", "t.json", ("us-east-1",), {}, ("ApiToken",))
    (t,) = deploy.baseline_targets(fleet, baseline, [LiveAccount("111111111111", "a", "a@example.com", "ACTIVE", ("Workloads", "Prod"))], tmp_path)
    assert t.masked_outputs == {"Password", "Dsn", "ApiToken"}


def test_sensitive_outputs_is_a_config_key(tmp_path):
    import shutil

    shutil.copytree(REPO / "include", tmp_path / "include")
    cfg = tmp_path / "include" / "fleet.yaml"
    text = cfg.read_text()
    marker = "  - name: security-baseline\n"
    assert marker in text
    cfg.write_text(text.replace(marker, marker + "    sensitive_outputs: [AuditRoleArn]\n", 1))
    assert load_config(cfg).baselines[0].sensitive_outputs == ("AuditRoleArn",)


@pytest.fixture
def member(fresh_account) -> tuple[str, str]:
    return fresh_account(ou="Beta")


def test_a_deployed_stack_reports_masked_values(seeded_fleet, member):
    target = stacks.StackTarget(member[0], member[1], "us-east-1", "fleet-masked", json.dumps(TEMPLATE), {}, {},
                                masked_outputs=frozenset({"Password", "Dsn", "ApiToken"}))
    result = stacks.deploy(seeded_fleet, target, "m" * 64, poll=0.2)
    assert result.status == "created", result.error
    assert result.outputs == {"Password": stacks.MASK, "Dsn": stacks.MASK, "ApiToken": stacks.MASK,
                              "Team": "payments"}
    assert "hunter2" not in json.dumps(result.to_dict()) and "tok-123" not in json.dumps(result.to_dict())
