"""The run report from an Airflow DAG run: task states and XComs turned into the core's stage results.

Everything that knows task ids and task states lives here; ``fleet.report`` builds, renders and
stores the report from plain values.
"""

from __future__ import annotations

from fleet import report
from fleet.report import STAGES, RunResults

# The tasks whose results make up the run report; each task id starts with its stage's name.
REPORTED_TASKS = ("source.preflight", "source.snapshot", "build.gates", "beta.deploy", "beta.integration_tests",
                  "gamma.deploy", "gamma.integration_tests", "gamma.bake", "prod.plan", "prod.approval",
                  "prod.auto_approve", "prod.rollout", "prod.service_catalog")


def stage_status(states: dict[str, str | None], stage: str) -> str:
    """A stage's status from its tasks' states (task id -> Airflow task state)."""
    mine = [str(s) for t, s in states.items() if t.startswith(f"{stage}.")]
    if not mine:
        return "not run"
    for bad in ("failed", "upstream_failed"):
        if bad in mine:
            return "failed"
    if all(s in {"skipped", "None"} for s in mine):
        return "skipped"
    if all(s in {"success", "skipped"} for s in mine):  # an unchosen branch (the other gate) is skipped
        return "success"
    return "incomplete"


def run_results(xcoms: dict[str, object]) -> RunResults:
    """The stage results from the reported tasks' return values (task id -> XCom)."""
    return RunResults(
        bundle=xcoms.get("source.snapshot"), gates=xcoms.get("build.gates"),
        deployments={env: xcoms[f"{env}.deploy"] for env in ("beta", "gamma") if xcoms.get(f"{env}.deploy")},
        tests={env: xcoms[f"{env}.integration_tests"] for env in ("beta", "gamma")
               if xcoms.get(f"{env}.integration_tests")},
        bake=xcoms.get("gamma.bake"), plan=xcoms.get("prod.plan"), approval=xcoms.get("prod.approval"),
        auto_approval=xcoms.get("prod.auto_approve"), rollout=xcoms.get("prod.rollout"),
        catalog=xcoms.get("prod.service_catalog"))


def write_report(ctx, run_id: str, states: dict[str, str | None], xcoms: dict[str, object]) -> dict:
    """Build the report, store it beside the bundle (when there is a context and a bundle), render it."""
    doc = report.assemble(run_id, {s: stage_status(states, s) for s in STAGES}, run_results(xcoms))
    location = report.store(ctx, doc) if ctx is not None else None
    return {"status": report.status_of(doc), "location": location, "text": report.to_text(doc), "report": doc}
