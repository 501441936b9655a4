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


def stage_of(task_id: str) -> str:
    head = task_id.split(".", 1)[0]
    return head if head in STAGES else "run"


def failures(states: dict[str, str | None], reasons: dict[str, str | None]) -> list[dict]:
    """Every task that failed with its reason (its verdict, else a pointer to its log), then every task
    an upstream failure kept from running, naming the failed tasks."""
    failed = sorted(t for t, s in states.items() if str(s) == "failed")
    rows = [{"stage": stage_of(t), "task": t, "state": "failed",
             "reason": reasons.get(t) or "failed without a verdict (an error; see the task's log)"} for t in failed]
    first = ", ".join(failed) or "an upstream task"
    rows += [{"stage": stage_of(t), "task": t, "state": "upstream_failed", "reason": f"not run: {first} failed"}
             for t in sorted(t for t, s in states.items() if str(s) == "upstream_failed")]
    return rows


def rollout_waves(rollout: dict | None) -> dict | None:
    """The prod rollout as the Fleet page shows it: per wave its accounts and outcome, the halt reason."""
    if not rollout:
        return None
    waves = []
    for w in rollout.get("waves", []):
        accounts = sorted({r["account_name"] for r in w.get("results", [])})
        waves.append({"wave": w.get("wave"), "accounts": accounts, "failed_accounts": w.get("failed_accounts", []),
                      "tolerance": w.get("tolerance"), "stacks": len(w.get("results", [])),
                      "rolled_back": len(w.get("rolled_back", [])),
                      "outcome": "halted" if len(w.get("failed_accounts", [])) > (w.get("tolerance") or 0)
                      else "succeeded" if not w.get("failed_accounts") else "within tolerance"})
    halted = bool(rollout.get("halted"))
    reason = None
    if halted:
        bad = next((w for w in waves if w["outcome"] == "halted"), None)
        reason = (f"wave {bad['wave']}: {len(bad['failed_accounts'])} failed account(s) "
                  f"({', '.join(bad['failed_accounts'])}) > tolerance {bad['tolerance']}") if bad else "halted"
    return {"halted": halted, "halt_reason": reason, "not_started": rollout.get("not_started", []), "waves": waves}


def write_report(ctx, run_id: str, states: dict[str, str | None], xcoms: dict[str, object],
                 reasons: dict[str, str | None] | None = None) -> dict:
    """Build the report, store it beside the bundle (when there is a context and a bundle), render it.

    ``reasons``: task id -> the verdict it failed with (``fleet_airflow.verdicts.REASON_KEY``)."""
    doc = report.assemble(run_id, {s: stage_status(states, s) for s in STAGES}, run_results(xcoms))
    doc["failures"] = failures(states, reasons or {})
    for row in doc["failures"]:
        stage = doc["stages"].get(row["stage"])
        if stage is not None and "reason" not in stage:
            stage["reason"] = f"{row['task']}: {row['reason']}"
    if waves := rollout_waves(xcoms.get("prod.rollout")):  # type: ignore[arg-type]
        doc["rollout"] = waves
    location = report.store(ctx, doc) if ctx is not None else None
    return {"status": report.status_of(doc), "location": location, "text": report.to_text(doc), "report": doc}
