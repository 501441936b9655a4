"""The pipeline's stages as plain functions over JSON-ready values.

Each DAG task is one call here, with its inputs and outputs small dicts (they travel as XComs); the
tests and the CLI call the same functions without a scheduler.
"""

from __future__ import annotations

import json
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from fleet import catalog, report, rollout, source, stacks, verify
from fleet import ledger as ledger_mod
from fleet import plan as plan_mod
from fleet.approval import safe_key
from fleet.aws import AwsContext
from fleet.org import read_org
from fleet.config import FleetConfig, load_config

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
    """Where bundles are unpacked (digest-named, verified): FLEET_WORK_DIR, else the temp folder."""
    return Path(os.environ.get("FLEET_WORK_DIR") or Path(tempfile.gettempdir()) / "fleet-bundles")


def open_bundle(ctx: AwsContext, bundle: Bundle) -> tuple[Path, FleetConfig]:
    """The bundle's files on local disk (verified against its digest) and its validated config."""
    root = source.fetch(ctx, bundle.bucket, bundle.digest, work_dir())
    return root, load_config(root / CONFIG_NAME)


def snapshot_and_upload(ctx: AwsContext, repo: Path, ref: str | None = None) -> dict:
    snap = source.snapshot(repo, ref=ref)
    fleet = load_config(snap.root / CONFIG_NAME)  # refuse a bad config before anything is uploaded
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


def integration_tests(ctx: AwsContext, deployments: list[dict], *, health: bool = False,
                      bundle: Bundle | None = None, run_id: str = "") -> dict:
    results = final_results(ctx, deployments)
    if bundle is not None:
        record_results(ctx, [(r, bundle.digest) for r in results], run_id)
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


def prod_waves(ctx: AwsContext, bundle: Bundle, only: list[str] | None = None
               ) -> tuple[FleetConfig, list[list[stacks.StackTarget]]]:
    """The prod targets in rollout order, split into the configured waves (by account)."""
    _, fleet = open_bundle(ctx, bundle)
    targets = env_targets(ctx, bundle, "prod", only=only)
    by_account: dict[str, list[stacks.StackTarget]] = {}
    for t in targets:
        by_account.setdefault(t.account_id, []).append(t)
    account_waves = rollout.plan_waves(list(by_account), fleet.environments.waves)
    return fleet, [[t for acct in wave for t in by_account[acct]] for wave in account_waves]


def _wave_settings(fleet: FleetConfig, waves: list[list[stacks.StackTarget]]) -> tuple[list[int], list[int]]:
    """(failure tolerance, max concurrent) of each planned wave, from the configured wave it came from."""
    env = fleet.environments
    total = len({t.account_id for w in waves for t in w})
    configured = rollout.planned_wave_configs(total, env.waves)
    return ([w.failure_tolerance if w.failure_tolerance is not None else env.failure_tolerance for w in configured],
            [w.max_concurrent or env.max_concurrent for w in configured])


def rollback_to_last_good(ctx: AwsContext, bundle: Bundle, *, max_concurrent: int = 10, log=print):
    """A function putting targets back on each one's last known good bundle (from the ledger)."""
    def rollback(targets: list[stacks.StackTarget], previous: dict) -> list[tuple[stacks.DeployResult, str]]:
        by_digest: dict[str, list[stacks.StackTarget]] = {}
        for t in targets:
            entry = previous.get(ledger_mod.entry_key(t.account_id, t.region, t.stack_name))
            good = entry.good_before(bundle.digest) if entry else None
            if not good:
                log(f"rollback: {t.account_name}/{t.region} has no earlier good bundle; left as it is")
                continue
            by_digest.setdefault(good, []).append(t)
        out = []
        for digest, ts in by_digest.items():
            root, old_fleet = open_bundle(ctx, Bundle(bundle.bucket, digest, None))
            old = []
            for t in ts:
                baseline = next((b for b in old_fleet.baselines if b.stack_name == t.stack_name), None)
                if baseline is None:
                    continue
                account = _Account(t.account_id, t.account_name)
                old += [o for o in rollout.baseline_targets(old_fleet, baseline, [account], root) if o.region == t.region]
            for r in rollout.deploy_all(ctx, old, digest, max_concurrent=max_concurrent):
                if r.status != "failed":
                    r.status = "rolled-back"
                log(f"rollback: {r.account_name}/{r.region} -> bundle {digest[:12]}: {r.status}")
                out.append((r, digest))
        return out
    return rollback


@dataclass(frozen=True)
class _Account:
    id: str
    name: str


def record_results(ctx: AwsContext, results: list[tuple[stacks.DeployResult, str]], run_id: str) -> None:
    ledger = ledger_mod.Ledger(ctx)
    ledger.ensure_table()
    previous = ledger.get_many(ledger_mod.entry_key(r.account_id, r.region, r.stack_name) for r, _ in results)
    ledger.record(results, run_id, previous)


def roll_back(ctx: AwsContext, bundle: Bundle, deployments: list[dict], run_id: str = "", log=print) -> list[dict]:
    """Put an environment's accounts (the canaries after a failed bake) back on their last good bundle."""
    ledger = ledger_mod.Ledger(ctx)
    ledger.ensure_table()
    targets = [_target_of(d) for d in deployments]
    previous = ledger.get_many(ledger_mod.entry_key(t.account_id, t.region, t.stack_name) for t in targets)
    back = rollback_to_last_good(ctx, bundle, log=log)(targets, previous)
    if back:
        ledger.record(back, run_id, previous)
    return [r.to_dict() for r, _ in back]


def prod_rollout(ctx: AwsContext, bundle: Bundle, *, run_id: str = "", only: list[str] | None = None,
                 rerun_failed_only: bool = False, log=print) -> dict:
    fleet, waves = prod_waves(ctx, bundle, only)
    tolerances, concurrency = _wave_settings(fleet, waves)
    ledger = ledger_mod.Ledger(ctx)
    ledger.ensure_table()

    def on_wave(w: rollout.WaveResult) -> None:
        counts = {s: sum(r.status == s for r in w.results) for s in ("created", "updated", "unchanged", "skipped")}
        log(f"wave {w.index + 1}/{len(waves)}: {len(w.results)} stacks "
            + ", ".join(f"{n} {s}" for s, n in counts.items() if n)
            + f", {w.failures} accounts failed (tolerance {w.tolerance})"
            + (f" -> HALT, {len(w.rolled_back)} put back on their last good bundle" if w.halted else ""))

    result = rollout.run_waves(ctx, waves, bundle.digest, max_concurrent=concurrency, failure_tolerance=tolerances,
                               on_wave=on_wave, ledger=ledger, run_id=run_id, rerun_failed_only=rerun_failed_only,
                               rollback=rollback_to_last_good(ctx, bundle, max_concurrent=max(concurrency), log=log))
    return result.to_dict()


def publish_catalog(ctx: AwsContext, bundle: Bundle) -> dict:
    root, fleet = open_bundle(ctx, bundle)
    return catalog.publish(ctx, fleet, read_org(ctx, with_tags=False), bundle_dir=root, digest=bundle.digest,
                           commit=bundle.commit, bucket=bundle.bucket)


def prod_plan(ctx: AwsContext, bundle: Bundle, *, run_id: str = "", only: list[str] | None = None,
              max_concurrent: int = 20) -> dict:
    """Change sets in every prod target, aggregated into one plan artifact stored beside the bundle.

    The rollout executes these very change sets (they are named after the digest), so what was
    approved is what runs.
    """
    fleet, waves = prod_waves(ctx, bundle, only)
    targets = [t for w in waves for t in w]

    def one(t: stacks.StackTarget) -> dict:
        try:
            return plan_mod.account_changes(stacks.plan(ctx, t, bundle.digest))
        except Exception as exc:  # one account that cannot be planned must not hide the others
            failed = stacks.ChangeSetPlan(t, "", "", "failed", reason=f"{type(exc).__name__}: {exc}")
            return plan_mod.account_changes(failed)

    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets) or 1))) as pool:
        rows = list(pool.map(one, targets))
    doc = plan_mod.aggregate(bundle.digest, rows, [list(dict.fromkeys(t.account_name for t in w)) for w in waves])
    key = f"plans/{safe_key(run_id or bundle.digest)}/plan.json"
    ctx.client("s3").put_object(Bucket=bundle.bucket, Key=key, Body=json.dumps(doc, indent=1).encode(),
                                ContentType="application/json")
    doc["location"] = f"s3://{bundle.bucket}/{key}"
    doc["auto_approve"] = doc["empty"] and fleet.approval.auto_approve_empty_plan
    return {k: v for k, v in doc.items() if k != "accounts"} | {
        "accounts": [{k: r[k] for k in ("account_name", "region", "status", "adds", "modifies", "replacements",
                                        "deletions", "iam_changes")} for r in doc["accounts"]]}


# The tasks whose results make up the run report (task id -> stage).
REPORTED_TASKS = ("source.preflight", "source.snapshot", "build.gates", "beta.deploy", "beta.integration_tests",
                  "gamma.deploy", "gamma.integration_tests", "gamma.bake", "prod.plan", "prod.approval",
                  "prod.auto_approve", "prod.rollout", "prod.service_catalog")
STAGES = ("source", "build", "beta", "gamma", "prod")


def _stage_status(states: dict[str, str | None], stage: str) -> str:
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
        back = {(r["account_id"], r["region"]): r["status"] for w in roll["waves"] for r in w.get("rolled_back", [])}
        rows = [{**r, "status": f"{r['status']}, then {back[(r['account_id'], r['region'])]}"}
                if (r["account_id"], r["region"]) in back else r for w in roll["waves"] for r in w["results"]]
        stages["prod"]["accounts"] = report.account_rows(rows) + [
            {"account": n, "account_id": "", "region": "", "status": "not started", "detail": ""}
            for n in roll["not_started"]]
        stages["prod"]["summary"] = f"{len(roll['waves'])} waves, {len(rows)} stacks" + (
            ", HALTED" if roll["halted"] else "")
    if cat := xcoms.get("prod.service_catalog"):
        versions = ", ".join(f"{p['product']} {p['version']}" for p in cat["products"])
        stages["prod"]["summary"] = stages["prod"].get("summary", "") + f"; catalog: {versions}"
    if plan := xcoms.get("prod.plan"):
        decided = "approved automatically" if xcoms.get("prod.auto_approve") else (
            f"approved by {xcoms['prod.approval'].get('approver')}" if xcoms.get("prod.approval") else "not approved")
        stages["prod"]["plan"] = f"{plan['summary']}; {decided}"
        stages["prod"].setdefault("summary", f"plan: {plan['summary']}")
    if bake := xcoms.get("gamma.bake"):
        stages["gamma"]["summary"] = stages["gamma"].get("summary", "") + f"; baked {bake['baked_minutes']} min"
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


def record_automatic_approval(ctx: AwsContext, bundle: Bundle, run_id: str, plan: dict, key: bytes) -> dict:
    """The audit record for a plan with no change: signed by the pipeline, bound to both digests."""
    from fleet import approval

    _, fleet = open_bundle(ctx, bundle)
    return approval.record_decision(
        approval.open_store(ctx, fleet.approval, bundle.bucket), run_id=run_id, bundle_digest=bundle.digest,
        plan_digest=plan["plan_digest"], approver="fleet-pipeline", approve=True,
        reason=f"empty plan {plan['plan_digest'][:12]}: {plan['summary']}", key=key, via="automatic")


def approval_settings(ctx: AwsContext, bundle: Bundle) -> dict:
    """The bundle's ``approval`` section as JSON-ready values (the approval store, topic, UI path)."""
    _, fleet = open_bundle(ctx, bundle)
    a = fleet.approval
    return {"store": a.store, "table": a.table, "topic": a.topic, "ui": a.ui, "approvers": list(a.approvers),
            "timeout_hours": a.timeout_hours}


def catalog_smoke_test(ctx: AwsContext, bundle: Bundle, published: dict, *, log=print) -> dict:
    """Launch each published product in the smoke-test account as an end user, check it, terminate it."""
    _, fleet = open_bundle(ctx, bundle)
    if fleet.catalog.smoke_test is None:
        return {"skipped": "no catalog.smoke_test in the config", "ok": True, "results": []}
    org = read_org(ctx, with_tags=False)
    return catalog.smoke_test(ctx, fleet, org, published, log=log)
