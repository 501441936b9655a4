import json

import pytest

from fleet.gates import Finding, GateReport


def test_finding_has_exactly_the_contract_fields():
    f = Finding("secrets", "secrets:AWSKeyDetector", "error", "a.py", 3, "abc", "msg")
    assert f.to_dict() == {"gate": "secrets", "rule": "secrets:AWSKeyDetector", "severity": "error",
                           "file": "a.py", "line": 3, "commit": "abc", "message": "msg"}


@pytest.mark.parametrize("gate,severity", [("nope", "error"), ("lint", "fatal")])
def test_finding_rejects_unknown_gate_or_severity(gate, severity):
    with pytest.raises(ValueError, match="expected one of"):
        Finding(gate, f"{gate}:r", severity, "f", None, None, "m")


@pytest.mark.parametrize("rule", ["E3002", "iam/wildcard-admin", "lint:", "iam:wildcard-admin"])
def test_finding_rule_id_is_gate_colon_name(rule):
    with pytest.raises(ValueError, match="expected lint:<name>"):
        Finding("lint", rule, "error", "f", None, None, "m")


def test_report_summary_and_json_shape():
    report = GateReport(findings=[
        Finding("lint", "lint:E3002", "error", "t.yaml", 4, None, "bad"),
        Finding("lint", "lint:W1", "warning", "t.yaml", 5, None, "meh"),
        Finding("iam", "iam:x", "warning", ".", None, None, "w"),
    ], seconds={"lint": 0.5, "iam": 0.1})
    assert not report.ok
    data = json.loads(report.to_json())
    assert set(data) == {"findings", "summary"}
    assert data["summary"] == {
        "gates": {"lint": {"errors": 1, "warnings": 1, "seconds": 0.5},
                  "iam": {"errors": 0, "warnings": 1, "seconds": 0.1}},
        "errors": 1, "warnings": 2,
        "checked": {"templates": 0, "resources": 0, "history_blobs": 0, "skipped": []}}
    assert GateReport(findings=report.findings[1:]).ok
