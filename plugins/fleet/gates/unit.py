"""Gate `unit`: Gherkin IaC unit tests (features/*.feature) run by pytest-bdd, in this process.

pytest runs against a throw-away test module that calls pytest-bdd's `scenarios()` on the
features directory; the step library (bdd_steps) and a collector are passed as plugins, so the
results come back as Findings with the feature file and the failing step's line.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
import uuid
from pathlib import Path

import pytest

from .findings import Finding
from .workspace import Workspace


class _Collector:
    def __init__(self, root: Path, ws: Workspace):
        self.root = root
        self.ws = ws
        self.findings: list[Finding] = []
        self.failed_nodes: set[str] = set()
        self.scenarios = 0

    def _rel(self, path) -> str:
        return os.path.relpath(path, self.ws.root)

    # a fixture on a plugin object overrides bdd_steps' default for every test in the session
    @pytest.fixture
    def fleet_root(self) -> Path:
        return self.root

    def pytest_bdd_before_scenario(self, request, feature, scenario):
        self.scenarios += 1

    def pytest_bdd_step_error(self, request, feature, scenario, step, step_func,
                              step_func_args, exception):
        self.failed_nodes.add(request.node.nodeid)
        message = str(exception).split("\nassert ")[0].strip() or type(exception).__name__
        rule = f"unit:{scenario.name or 'unnamed scenario'}"
        self.findings.append(Finding(
            "unit", rule, "error", self._rel(feature.filename), step.line_number, None,
            f"{scenario.name}: step \"{step.keyword} {step.name}\" failed: {message}"))

    def pytest_bdd_step_func_lookup_error(self, request, feature, scenario, step, exception):
        self.failed_nodes.add(request.node.nodeid)
        self.findings.append(Finding(
            "unit", "unit:step-undefined", "error", self._rel(feature.filename), step.line_number,
            None, f"{scenario.name}: no step definition for \"{step.keyword} {step.name}\""))

    def pytest_collectreport(self, report):
        if report.failed:
            text = str(report.longrepr).strip().splitlines()
            detail = next((l for l in reversed(text) if l.strip()), "collection failed")
            self.findings.append(Finding("unit", "unit:feature-invalid", "error", ".", None, None,
                                         f"feature files could not be collected: {detail[:300]}"))

    def pytest_runtest_logreport(self, report):
        if report.failed and report.nodeid not in self.failed_nodes and report.when == "call":
            self.failed_nodes.add(report.nodeid)
            self.findings.append(Finding("unit", "unit:scenario-error", "error", ".", None, None,
                                         f"{report.nodeid.split('::')[-1]} failed outside a step"))


def run(ws: Workspace, features: Path | None) -> list[Finding]:
    if features is None or not any(features.rglob("*.feature")):
        return []
    from . import bdd_steps

    collector = _Collector(ws.root, ws)
    with tempfile.TemporaryDirectory(prefix="fleet-unit-") as tmp:
        module = Path(tmp) / f"test_fleet_features_{uuid.uuid4().hex[:8]}.py"
        module.write_text(
            "from pytest_bdd import scenarios\n"
            f"scenarios({str(features.resolve())!r})\n")
        ini = Path(tmp) / "pytest.ini"
        ini.write_text("[pytest]\n")
        args = [str(module), "-q", "-c", str(ini), "--rootdir", tmp, "-p", "no:cacheprovider",
                "--import-mode=importlib", "-o", "addopts=", "--capture=sys",
                "-W", "ignore::DeprecationWarning"]
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            code = pytest.main(args, plugins=[bdd_steps, collector])
    if code not in (0, 1) and not collector.findings:
        collector.findings.append(Finding("unit", "unit:pytest-failed", "error", ".", None, None,
                                          f"pytest could not run the features (exit {int(code)})"))
    if code == 0 and collector.scenarios == 0:
        collector.findings.append(Finding("unit", "unit:no-scenarios", "warning", ".", None, None,
                                          "feature files hold no scenario"))
    return collector.findings
