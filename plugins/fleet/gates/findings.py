"""The Finding record every gate returns, and the report that groups them.

Rule ids have one shape: `<gate>:<name>`, the gate that reports the finding and the rule's name
within it. Rules the project defines are listed by `python -m fleet.gates.rules` (IAM checks,
Guard and Rego rules, each gate's meta rules such as `policy:engine-missing` or `<gate>:crashed`);
the tools' own rules keep their ids after the gate: `lint:E3012` (cfn-lint),
`lint:yamllint/<rule>`, `secrets:<detect-secrets plugin>`, `iam:access-analyzer/<issue code>`,
and `unit:<scenario name>` for a Gherkin scenario that fails.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

GATES = ("secrets", "lint", "policy", "iam", "unit")
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Finding:
    gate: str
    rule: str
    severity: str
    file: str
    line: int | None
    commit: str | None
    message: str

    def __post_init__(self) -> None:
        # A typo in a gate would silently drop findings from the summary: fail at the source.
        if self.gate not in GATES:
            raise ValueError(f"Finding.gate: expected one of {GATES}, got {self.gate!r}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Finding.severity: expected one of {SEVERITIES}, got {self.severity!r}")
        gate, sep, name = self.rule.partition(":")
        if gate != self.gate or not sep or not name:
            raise ValueError(f"Finding.rule: expected {self.gate}:<name>, got {self.rule!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def where(self) -> str:
        place = f"{self.file}:{self.line}" if self.line else self.file
        return f"{place} @ {self.commit[:12]}" if self.commit else place


@dataclass
class GateReport:
    findings: list[Finding] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # set by the secrets gate when history holds a secret: commits, paths, hashes (no values)
    purge_plan: dict | None = None
    # what was looked at, so a silent skip can be seen: templates, resources, history blobs,
    # and [{"file", "reason"}] for what was not checked
    checked: dict = field(default_factory=lambda: {"templates": 0, "resources": 0,
                                                   "history_blobs": 0, "skipped": []})

    @property
    def summary(self) -> dict:
        gates = {}
        for gate, secs in self.seconds.items():
            mine = [f for f in self.findings if f.gate == gate]
            gates[gate] = {
                "errors": sum(f.severity == "error" for f in mine),
                "warnings": sum(f.severity == "warning" for f in mine),
                "seconds": round(secs, 3),
            }
        return {
            "gates": gates,
            "errors": sum(f.severity == "error" for f in self.findings),
            "warnings": sum(f.severity == "warning" for f in self.findings),
            "checked": self.checked,
        }

    @property
    def ok(self) -> bool:
        return not any(f.severity == "error" for f in self.findings)

    def to_dict(self, full: bool = False) -> dict:
        """The `fleet check --format json` document; full=True adds what from_dict needs."""
        data = {"findings": [f.to_dict() for f in self.findings], "summary": self.summary}
        if full:
            data.update(seconds=self.seconds, purge_plan=self.purge_plan)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "GateReport":
        return cls(findings=[Finding(**f) for f in data.get("findings", [])],
                   seconds=dict(data.get("seconds") or {}), purge_plan=data.get("purge_plan"),
                   checked=data.get("summary", {}).get("checked") or cls().checked)

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)
