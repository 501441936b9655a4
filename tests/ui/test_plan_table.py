"""The run page's prod plan table speaks per baseline: action, parameters as shown, and why."""

from __future__ import annotations

from fleet import plan
from fleet.ledger import Entry
from fleet.stacks import ChangeSetPlan, StackTarget
from fleet_airflow.ui.page import run_page


def test_the_plan_table_shows_baseline_action_parameters_and_reason():
    t = StackTarget("111111111111", "app-prod-01", "us-east-1", "fleet-security-baseline", "",
                    {"RetentionDays": "365", "Token": "s3cr3t"}, baseline="security-baseline", masked=("Token",))
    entry = Entry("111111111111", "us-east-1", "fleet-network", "app-prod-01", "d" * 64, "created", baseline="network")
    gone = plan.removal(entry, "app-prod-01", "delete", "app-prod-01 is no longer a target of network", [])
    doc = plan.aggregate("d" * 64, [plan.account_changes(ChangeSetPlan(t, "cs", "UPDATE", "no-changes"))],
                         [["app-prod-01"]], [gone])
    html = run_page({"run_id": "r", "status": "success", "stages": {}, "accounts": {}, "failures": []},
                    plan=doc, approval=None)
    assert "<th>baseline</th>" in html and "<th>action</th>" in html
    assert "s-unchanged" in html and "s-delete" in html and "no longer a target of network" in html
    assert "RetentionDays=365" in html and "Token=****" in html and "s3cr3t" not in html
