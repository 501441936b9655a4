"""Stack outputs named sensitive in the config, or handing back a NoEcho parameter, are masked in
what the pipeline stores and shows: the result (XCom), the ledger and the run report (issue 12, item 7)."""

from __future__ import annotations

import json
from pathlib import Path

from fleet import stacks
from fleet.config import Baseline, load_config
from fleet.deploy import baseline_targets, noecho_outputs
from fleet.ledger import Ledger, entry_key
from fleet.org import read_org
from fleet.templates import load_template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = """\
Parameters:
  ManagementAccountId: {Type: String}
  DbPassword: {Type: String, NoEcho: true}
Resources:
  Topic: {Type: AWS::SNS::Topic}
Outputs:
  TopicArn: {Value: !Ref Topic}
  Password: {Value: !Ref DbPassword}
  Dsn: {Value: !Sub "postgres://app:${DbPassword}@db"}
  ApiToken: {Value: "tok-123-not-for-logs"}
"""


def test_noecho_mirrors_are_found_in_the_template():
    assert noecho_outputs(load_template(TEMPLATE)) == {"Password", "Dsn"}


def test_sensitive_outputs_are_masked_in_the_result_and_the_ledger(fleet_ctx, tmp_path):
    (tmp_path / "secret.yaml").write_text(TEMPLATE)
    fleet = load_config(REPO / "include" / "fleet.yaml")
    baseline = Baseline("secret-outputs", "secret.yaml", ("us-east-1",), {"DbPassword": "hunter2-value"},
                        sensitive_outputs=("ApiToken",))
    account = next(a for a in read_org(fleet_ctx).accounts if a.name == "app-prod-01")
    (target,) = baseline_targets(fleet, baseline, [account], tmp_path)
    result = stacks.deploy(fleet_ctx, target, "d" * 64)
    assert result.status == "created", result.error
    assert result.outputs["Password"] == result.outputs["Dsn"] == result.outputs["ApiToken"] == stacks.MASK
    assert result.outputs["TopicArn"].startswith("arn:aws:sns:")
    ledger = Ledger(fleet_ctx)
    ledger.ensure_table()
    ledger.record([(result, "d" * 64)], "run-masked", {})
    stored = ledger.get_many([entry_key(target.account_id, target.region, target.stack_name)])
    text = json.dumps(result.to_dict()) + json.dumps({k: v.outputs for k, v in stored.items()})
    assert "hunter2-value" not in text and "tok-123-not-for-logs" not in text
    # A later look at the same deployment (the environment sensor's refresh) keeps them masked.
    again = stacks.refresh(fleet_ctx, stacks.DeployResult(**{**result.to_dict(), "status": "in-progress"}))
    assert again.outputs["ApiToken"] == stacks.MASK and "hunter2-value" not in json.dumps(again.to_dict())
