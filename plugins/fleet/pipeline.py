"""The pipeline's stages as plain functions over JSON-ready values.

Each DAG task is one call here, with its inputs and outputs small dicts (they travel as XComs); the
tests and the CLI call the same functions without a scheduler.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

from fleet import catalog, report, rollout, source, stacks, verify
from fleet.approval import safe_key
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.spec import Fleet, load_fleet

CONFIG_NAME = "fleet.yaml"


class StageFailed(RuntimeError):
    """A stage's own verdict (findings, failed checks, halted rollout): not retried by Airflow."""


@dataclass
class Bundle:
    bucket: str
    digest: str
    commit: str | None

    @classmethod
    def of(cls, d: dict) -> Bundle:
        return cls(d["bucket"], d["digest"], d.get("commit"))


def work_dir() -> Path:
    return Path(tempfile.gettempdir()) / "fleet-bundles"


def open_bundle(ctx: AwsContext, bundle: Bundle) -> tuple[Path, Fleet]:
    """The bundle's files on local disk (verified against its digest) and its validated config."""
    root = source.fetch(ctx, bundle.bucket, bundle.digest, work_dir())
    return root, load_fleet(root / CONFIG_NAME)


def snapshot_and_upload(ctx: AwsContext, repo: Path, ref: str | None = None) -> dict:
    snap = source.snapshot(repo, ref=ref)
    fleet = load_fleet(snap.root / CONFIG_NAME)  # refuse a bad config before anything is uploaded
    ctx.require_management_account(fleet.organization.management_account)
    bucket = source.artifacts_bucket(fleet.organization.management_account, ctx.region)
    return source.upload(ctx, snap, bucket)


def run_build_gates(ctx: AwsContext, bundle: Bundle, repo: Path | None, *, cleanse: bool = False) -> dict:
    """Every gate over the bundle's tree; secrets also over the source repo's git history.

    A secret in history fails the build and leaves a purge plan beside the bundle; with ``cleanse``
    the source remote's history is rewritten and rescanned (the secret must still be rotated).
    """
    from fleet.gates import run_gates

    root, _ = open_bundle(ctx, bundle)
    # On real AWS this validates every policy document with IAM Access Analyzer; local AWS has no
    # Access Analyzer, and the gate says so in one warning instead of passing in silence.
    report = run_gates(root, history=False, aws_client=ctx.client("accessanalyzer"))
    findings = [f.to_dict() for f in report.findings]
    purge_plan = None
    if repo is not None and _in_git(repo):
        history = run_gates(repo, history=True, gates={"secrets"})
        findings += [f.to_dict() for f in history.findings if f.commit]
        purge_plan = history.purge_plan
    doc = {"digest": bundle.digest, "findings": findings,
           "errors": sum(f["severity"] == "error" for f in findings),
           "warnings": sum(f["severity"] == "warning" for f in findings), "summary": report.summary}
    s3 = ctx.client("s3")
    if purge_plan:
        doc["purge_plan"] = f"s3://{bundle.bucket}/bundles/{bundle.digest}/purge-plan.json"
        s3.put_object(Bucket=bundle.bucket, Key=f"bundles/{bundle.digest}/purge-plan.json",
                      Body=json.dumps(purge_plan, indent=1).encode())
        if cleanse:
            doc["cleansed"] = cleanse_history(repo, purge_plan)
    s3.put_object(Bucket=bundle.bucket, Key=f"bundles/{bundle.digest}/findings.json",
                  Body=json.dumps(doc, indent=1).encode())
    return doc


def cleanse_history(repo: Path, purge_plan: dict) -> dict:
    """Rewrite the history of the repo's ``origin`` remote so no planned secret remains, and prove it."""
    import subprocess

    from fleet.gates.cleanse import cleanse

    remote = subprocess.run(["git", "-C", str(repo), "remote", "get-url", "origin"], capture_output=True,
                            text=True)
    if remote.returncode != 0:
        return {"ok": False, "error": f"{repo}: no `origin` remote to cleanse"}
    result = cleanse(remote.stdout.strip(), purge_plan)
    return {"ok": result.ok, "remote": result.remote, "rewritten_refs": result.rewritten_refs,
            "remaining_findings": result.remaining_findings}


def _in_git(path: Path) -> bool:
    return any((p / ".git").exists() for p in [path, *path.parents])


def env_targets(ctx: AwsContext, bundle: Bundle, environment: str, *, only: list[str] | None = None
                ) -> list[stacks.StackTarget]:
    """Stack targets of every baseline for an environment's accounts, resolved from the live org."""
    root, fleet = open_bundle(ctx, bundle)
    org = read_org(ctx, with_tags=environment == "prod" and bool(fleet.environments.prod_targets.tags))
    env = fleet.environments
    if environment == "beta":
        accounts = org.resolve_names(fleet, env.beta_accounts)
    elif environment == "gamma":
        accounts = org.resolve_names(fleet, env.gamma_accounts)
    else:
        accounts = org.resolve_targets(fleet, env.prod_targets)
    if only:
        accounts = [a for a in accounts if a.name in only or a.id in only]
    return [t for b in fleet.baselines for t in rollout.baseline_targets(fleet, b, accounts, root)]


def start_deployments(ctx: AwsContext, bundle: Bundle, environment: str, *, max_concurrent: int = 10) -> list[dict]:
    """Plan and execute the change sets without waiting; a sensor waits for the stacks to settle."""
    targets = env_targets(ctx, bundle, environment)
    results = rollout.deploy_all(ctx, targets, bundle.digest, max_concurrent=max_concurrent,
                                 deploy=lambda c, t, d: stacks.deploy(c, t, d, wait=False))
    return [r.to_dict() for r in results]


def settled(ctx: AwsContext, deployments: list[dict]) -> bool:
    """True when no stack of ``deployments`` is still in an *_IN_PROGRESS state."""
    for d in deployments:
        t = _target_of(d)
        stack = stacks.describe_stack(ctx, t)
        if stack and stack["StackStatus"].endswith("_IN_PROGRESS"):
            return False
    return True


def _target_of(d: dict) -> stacks.StackTarget:
    return stacks.StackTarget(d["account_id"], d["account_name"], d["region"], d["stack_name"], "")


def final_results(ctx: AwsContext, deployments: list[dict]) -> list[stacks.DeployResult]:
    return [stacks.refresh(ctx, stacks.DeployResult(**d)) for d in deployments]


def integration_tests(ctx: AwsContext, deployments: list[dict], *, health: bool = False) -> dict:
    results = final_results(ctx, deployments)
    checks = []
    for r in results:
        if r.status != "failed":
            checks += verify.verify_security_baseline(ctx, r)
        if health:
            checks += verify.health(ctx, r)
    doc = {"deployments": [r.to_dict() for r in results], "checks": [c.to_dict() for c in checks],
           "failed_deployments": [f"{r.account_name}/{r.region}: {r.error}" for r in results if r.status == "failed"],
           "failed_checks": [f"{c.account_name}/{c.region} {c.name}: {c.detail}" for c in checks if not c.ok]}
    return doc


def prod_rollout(ctx: AwsContext, bundle: Bundle, *, only: list[str] | None = None, log=print) -> dict:
    _, fleet = open_bundle(ctx, bundle)
    env = fleet.environments
    targets = env_targets(ctx, bundle, "prod", only=only)
    by_account: dict[str, list[stacks.StackTarget]] = {}
    for t in targets:
        by_account.setdefault(t.account_id, []).append(t)
    account_waves = rollout.plan_waves(list(by_account), env.waves)
    waves = [[t for acct in wave for t in by_account[acct]] for wave in account_waves]

    def on_wave(w: rollout.WaveResult) -> None:
        log(f"wave {w.index + 1}/{len(waves)}: {len(w.results)} stacks, {w.failures} failed "
            f"(tolerance {w.tolerance})" + (" -> HALT" if w.halted else ""))

    result = rollout.run_waves(ctx, waves, bundle.digest, max_concurrent=env.max_concurrent,
                               failure_tolerance=env.failure_tolerance, on_wave=on_wave)
    return result.to_dict()


def publish_catalog(ctx: AwsContext, bundle: Bundle) -> dict:
    root, fleet = open_bundle(ctx, bundle)
    return catalog.publish(ctx, fleet, read_org(ctx, with_tags=False), bundle_dir=root, digest=bundle.digest,
                           commit=bundle.commit, bucket=bundle.bucket)


def prod_plan(ctx: AwsContext, bundle: Bundle, *, only: list[str] | None = None) -> dict:
    """The prod targets and waves the approver is asked to release, and a digest binding them."""
    _, fleet = open_bundle(ctx, bundle)
    targets = env_targets(ctx, bundle, "prod", only=only)
    accounts = sorted({(t.account_name, t.account_id) for t in targets})
    waves = rollout.plan_waves(accounts, fleet.environments.waves)
    body = {"bundle_digest": bundle.digest,
            "targets": sorted(f"{t.account_id}/{t.region}/{t.stack_name}" for t in targets)}
    plan_digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
    summary = (f"{len(accounts)} prod accounts in {len(waves)} waves "
               f"({', '.join(str(len(w)) for w in waves)}), {len(targets)} stacks")
    return {"plan_digest": plan_digest, "summary": summary, "waves": [[n for n, _ in w] for w in waves],
            "targets": body["targets"]}


# The tasks whose results make up the run report (task id -> stage).
REPORTED_TASKS = ("source.preflight", "source.snapshot", "build.gates", "beta.deploy", "beta.integration_tests",
                  "gamma.deploy", "gamma.integration_tests", "prod.plan", "prod.approval", "prod.rollout",
                  "prod.service_catalog")
STAGES = ("source", "build", "beta", "gamma", "prod")


def _stage_status(states: dict[str, str | None], stage: str) -> str:
    mine = [str(s) for t, s in states.items() if t.startswith(f"{stage}.")]
    if not mine:
        return "not run"
    for bad in ("failed", "upstream_failed"):
        if bad in mine:
            return "failed"
    if all(s == "success" for s in mine):
        return "success"
    if all(s in {"skipped", "None"} for s in mine):
        return "skipped"
    return "incomplete"


def write_report(ctx: AwsContext | None, run_id: str, states: dict, xcoms: dict) -> dict:
    bundle = xcoms.get("source.snapshot") or {}
    stages: dict[str, dict] = {s: {"status": _stage_status(states, s)} for s in STAGES}
    if bundle:
        stages["source"]["summary"] = f"{bundle['files']} files, digest {bundle['digest'][:12]}"
    if gates := xcoms.get("build.gates"):
        stages["build"]["summary"] = f"{gates['errors']} errors, {gates['warnings']} warnings"
    for env in ("beta", "gamma"):
        tests = xcoms.get(f"{env}.integration_tests")
        deployed = xcoms.get(f"{env}.deploy")
        if tests:
            stages[env]["accounts"] = report.account_rows(tests["deployments"], tests["checks"])
            ok = sum(c["ok"] for c in tests["checks"])
            stages[env]["summary"] = f"{len(tests['deployments'])} stacks, {ok}/{len(tests['checks'])} checks passed"
        elif deployed:
            stages[env]["accounts"] = report.account_rows(deployed)
    if roll := xcoms.get("prod.rollout"):
        rows = [r for w in roll["waves"] for r in w["results"]]
        stages["prod"]["accounts"] = report.account_rows(rows) + [
            {"account": n, "account_id": "", "region": "", "status": "not started", "detail": ""}
            for n in roll["not_started"]]
        stages["prod"]["summary"] = f"{len(roll['waves'])} waves, {len(rows)} stacks" + (
            ", HALTED" if roll["halted"] else "")
    if cat := xcoms.get("prod.service_catalog"):
        versions = ", ".join(f"{p['product']} {p['version']}" for p in cat["products"])
        stages["prod"]["summary"] = stages["prod"].get("summary", "") + f"; catalog: {versions}"
    if (plan := xcoms.get("prod.plan")) and "summary" not in stages["prod"]:
        stages["prod"]["summary"] = f"plan: {plan['summary']}"
    doc = report.build(run_id, bundle, stages)
    status = "failed" if any(s["status"] == "failed" for s in stages.values()) else "success"
    location = None
    if ctx is not None and bundle:
        key = f"reports/{safe_key(run_id)}"
        s3 = ctx.client("s3")
        s3.put_object(Bucket=bundle["bucket"], Key=f"{key}/report.json",
                      Body=json.dumps(doc, indent=1, default=str).encode(), ContentType="application/json")
        s3.put_object(Bucket=bundle["bucket"], Key=f"{key}/report.html", Body=report.to_html(doc).encode(),
                      ContentType="text/html")
        location = f"s3://{bundle['bucket']}/{key}/report.json"
    return {"status": status, "location": location, "text": report.to_text(doc), "report": doc}
