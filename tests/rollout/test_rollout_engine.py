"""Waves, tolerance, rollback to last good, the ledger, rerun-failed-only, resume, the plan, bake health."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fleet import health, rollout, stacks
from fleet.deploy import deploy_all
from fleet.ledger import Ledger
from fleet.org import read_org
from fleet.stages import environment, prod

from tests.support.bundles import make_bundle


def failing_in(names: set[str]):
    """A deploy that fails in the named accounts before touching them (as AccessDenied would)."""
    def deploy(ctx, target, digest, **kw):
        if target.account_name in names:
            return stacks.DeployResult(target.account_id, target.account_name, target.region, target.stack_name,
                                       "failed", error="AccessDenied: injected by the test")
        return stacks.deploy(ctx, target, digest, **kw)
    return deploy


def run(ctx, bundle, *, tolerance=0, deploy=stacks.deploy, rerun_failed_only=False, run_id="r", try_number=0):
    waves = prod.waves(ctx, bundle)
    ledger = Ledger(ctx)
    ledger.ensure_table()
    return rollout.run_waves(ctx, waves, bundle.digest, max_concurrent=4, failure_tolerance=tolerance,
                             deploy=deploy, ledger=ledger, run_id=run_id, rerun_failed_only=rerun_failed_only,
                             open_bundle=lambda digest: bundle.ref.sibling(digest).open(ctx), log=lambda *_: None,
                             try_number=try_number)


SECURITY, NETWORK = "fleet-security-baseline", "fleet-network"
PROD = [f"app-prod-0{i}" for i in range(1, 9)]


def statuses(result, stack: str = SECURITY) -> dict[str, str]:
    """Account -> status of one baseline's stack (the sample's security baseline by default)."""
    return {r.account_name: r.status for w in result.waves for r in w.results if r.stack_name == stack}


def first_accounts(targets, n: int) -> list:
    """The targets of the first ``n`` accounts (each account's baselines together, in dependency order)."""
    names = list(dict.fromkeys(t.account_name for t in targets))[:n]
    return [t for t in targets if t.account_name in names]


def retention_of(ctx, account_id: str) -> str:
    s = ctx.client("cloudformation", account_id).describe_stacks(StackName="fleet-security-baseline")["Stacks"][0]
    return {p["ParameterKey"]: p["ParameterValue"] for p in s["Parameters"]}["RetentionDays"]


def test_first_rollout_creates_then_a_rerun_skips_everything(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    first = run(fleet_ctx, a)
    assert not first.halted and {r.status for w in first.waves for r in w.results} == {"created"}
    # 9 accounts (Prod's 8 and shared-network, which gets the network baseline only): 1, 2 and 6.
    assert [len(w.results) for w in first.waves] == [2, 4, 11]
    assert set(statuses(first, NETWORK)) == {*PROD, "shared-network"} and set(statuses(first)) == set(PROD)
    again = run(fleet_ctx, a, run_id="r2")
    assert {r.status for w in again.waves for r in w.results} == {"skipped"}
    entries = Ledger(fleet_ctx).scan()
    assert len(entries) == 17 and {e.last_good_digest for e in entries} == {a.digest}
    assert {e.baseline for e in entries} == {"network", "security-baseline"}


def test_tolerance_zero_halts_after_the_first_failing_wave_and_rolls_it_back(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    b = make_bundle(fleet_ctx, tmp_path, "b", "400")
    run(fleet_ctx, a)
    result = run(fleet_ctx, b, deploy=failing_in({"app-prod-05"}), run_id="rb")
    assert result.halted
    assert [w.index for w in result.waves] == [0, 1, 2] and result.waves[-1].failed_accounts == ["app-prod-05"]
    wave3 = {r.account_name: r for r in result.waves[2].results if r.stack_name == SECURITY}
    assert wave3["app-prod-04"].status == "updated" and wave3["app-prod-05"].status == "failed"
    # Every account of the failed wave is back on bundle a, the updated ones included.
    back = {(r.account_name, r.stack_name): r.status for r in result.waves[2].rolled_back}
    assert {n for n, _ in back} == {*(f"app-prod-0{i}" for i in range(4, 9)), "shared-network"}
    assert set(back.values()) == {"rolled-back"}
    for r in wave3.values():
        assert retention_of(fleet_ctx, r.account_id) == "365"
    # Earlier waves keep b (their wave passed).
    assert retention_of(fleet_ctx, result.waves[0].results[0].account_id) == "400"


def test_halt_leaves_later_waves_untouched(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    result = run(fleet_ctx, a, deploy=failing_in({"app-prod-01"}))
    assert result.halted and len(result.waves) == 1
    assert result.not_started == [f"app-prod-0{i}" for i in range(2, 9)] + ["shared-network"]
    cfn_ids = [r.account_id for r in result.waves[0].results]
    assert stacks.describe_stack(fleet_ctx, stacks.StackTarget(
        cfn_ids[0], "", "us-east-1", "fleet-security-baseline", "")) is None


def test_tolerance_two_continues_past_two_failures(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    result = run(fleet_ctx, a, tolerance=2, deploy=failing_in({"app-prod-04", "app-prod-05"}))
    assert not result.halted and len(result.waves) == 3
    assert statuses(result)["app-prod-04"] == "failed" and statuses(result)["app-prod-08"] == "created"


def test_rerun_failed_only_deploys_just_the_failures(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    run(fleet_ctx, a, tolerance=2, deploy=failing_in({"app-prod-04", "app-prod-05"}))
    again = run(fleet_ctx, a, rerun_failed_only=True, run_id="again")
    s = statuses(again)
    assert s["app-prod-04"] == s["app-prod-05"] == "created"
    assert {n for n, v in s.items() if v == "skipped"} == {f"app-prod-0{i}" for i in (1, 2, 3, 6, 7, 8)}
    assert all(e.status in {"created", "skipped"} for e in Ledger(fleet_ctx).scan())
    assert statuses(again, NETWORK)["app-prod-04"] == "created"  # it failed too, before its dependant


def test_a_killed_run_resumes_without_duplicates(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    waves = prod.waves(fleet_ctx, a)
    # The killed run got as far as executing two accounts' change sets (both baselines), and recorded nothing.
    killed = first_accounts(waves[2], 2)
    assert {r.status for r in deploy_all(fleet_ctx, killed, a.digest, max_concurrent=4)} == {"created"}
    resumed = run(fleet_ctx, a, run_id="resumed")
    s = {(r.account_name, r.stack_name): r.status for w in resumed.waves for r in w.results}
    assert [s[(t.account_name, t.stack_name)] for t in killed] == ["unchanged"] * 4
    assert sum(v == "created" for v in s.values()) == 17 - 4
    for w in waves:
        for t in w:
            cfn = fleet_ctx.client("cloudformation", t.account_id)
            done = cfn.list_stacks(StackStatusFilter=["CREATE_COMPLETE", "UPDATE_COMPLETE"])["StackSummaries"]
            assert len(done) == (1 if t.account_name == "shared-network" else 2)


def test_plan_on_no_change_is_empty_and_on_a_change_counts_it(fleet_ctx, tmp_path):
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    fresh = prod.plan(fleet_ctx, a, run_id="p0")
    # A fresh fleet: 9 VPCs to add; each security stack waits for its account's VPC id (pending).
    assert not fresh["empty"] and fresh["totals"]["adds"] == 9 and fresh["totals"]["iam_changes"] == 0
    rows = {(r["account_name"], r["baseline"]): r for r in fresh["accounts"]}
    assert rows[("app-prod-01", "security-baseline")]["status"] == "pending"
    assert rows[("app-prod-01", "security-baseline")]["action"] == "add"
    assert "NetworkVpcId are known once network is deployed" in rows[("app-prod-01", "security-baseline")]["reason"]
    assert rows[("shared-network", "network")]["action"] == "add"
    assert fresh["actions"]["add"] == 17
    run(fleet_ctx, a)
    same = prod.plan(fleet_ctx, a, run_id="p1")
    assert same["empty"] and same["auto_approve"] and same["summary"].startswith("9 accounts: 0 change")
    assert same["actions"]["unchanged"] == 17
    b = make_bundle(fleet_ctx, tmp_path, "b", "400")
    changed = prod.plan(fleet_ctx, b, run_id="p2")
    assert not changed["empty"] and changed["totals"]["modifies"] >= 8 and changed["totals"]["adds"] == 0
    assert changed["plan_digest"] != same["plan_digest"]
    assert "9 accounts: 8 change" in changed["summary"] and changed["actions"]["modify"] == 8


def test_bake_breach_on_a_firing_alarm_and_done_after_the_bake_time(fleet_ctx):
    ids = {a.name: a.id for a in read_org(fleet_ctx).accounts}
    canaries = [{"account_id": ids[n], "account_name": n, "region": "us-east-1"} for n in ("canary-01", "canary-02")]
    start = datetime.now(timezone.utc)
    assert health.bake_status(fleet_ctx, canaries, start.isoformat(), 30, now=start + timedelta(minutes=5)) is None
    done = health.bake_status(fleet_ctx, canaries, start.isoformat(), 30, now=start + timedelta(minutes=31))
    assert done == {"state": "done", "baked_minutes": 30}
    cw = fleet_ctx.client("cloudwatch", ids["canary-02"])
    cw.put_metric_alarm(AlarmName="5xx-rate", MetricName="5xx", Namespace="App", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName="5xx-rate", StateValue="ALARM", StateReason="canary errors")
    breach = health.bake_status(fleet_ctx, canaries, start.isoformat(), 30, now=start + timedelta(minutes=5))
    assert breach == {"state": "breach", "breaches": ["canary-02/us-east-1: alarm 5xx-rate in ALARM"]}


def test_canaries_are_put_back_on_their_last_good_bundle_after_a_bake_breach(fleet_ctx, tmp_path):
    """What gamma.bake does on a breach: every canary back on the bundle before this one."""
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    b = make_bundle(fleet_ctx, tmp_path, "b", "400")
    for bundle in (a, b):
        started = environment.start_deployments(fleet_ctx, bundle, "gamma")
        doc = environment.integration_tests(fleet_ctx, started, health=True, bundle=bundle.ref,
                                            run_id=bundle.digest[:8])
        assert not doc["failed_deployments"] and not doc["failed_checks"]
    canaries = started
    assert sorted((d["account_name"], d["stack_name"]) for d in canaries) == [
        ("canary-01", NETWORK), ("canary-01", SECURITY), ("canary-02", NETWORK), ("canary-02", SECURITY)]
    assert {retention_of(fleet_ctx, d["account_id"]) for d in canaries} == {"400"}
    back = environment.roll_back(fleet_ctx, b.ref, canaries, "breach", log=lambda *_: None)
    assert sorted(r["account_name"] for r in back if r["stack_name"] == SECURITY) == ["canary-01", "canary-02"]
    assert {r["status"] for r in back} == {"rolled-back"}
    assert {retention_of(fleet_ctx, d["account_id"]) for d in canaries} == {"365"}
    entries = {e.account_name: e for e in Ledger(fleet_ctx).scan() if e.stack_name == SECURITY}
    assert entries["canary-01"].bundle_digest == a.digest and entries["canary-01"].status == "rolled-back"


def test_a_stack_that_rolls_back_in_aws_halts_its_wave_and_a_rerun_recreates_it(fleet_ctx, tmp_path, behaviour):
    """No injected deploy: local AWS's profile makes the stack fail in CloudFormation itself
    (CREATE_IN_PROGRESS -> CREATE_FAILED -> ROLLBACK_COMPLETE), as a resource failure would."""
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    org = fleet_ctx.client("organizations")
    failing = next(x["Id"] for x in org.list_accounts()["Accounts"] if x["Name"] == "app-prod-02")
    behaviour({"cloudformation": {"in_progress_seconds": 0.3,
                                  "fail_stacks": [{"accounts": [failing], "stack_name": "fleet-*",
                                                   "reason": "Resource handler returned message: Access Denied"}]}})
    first = run(fleet_ctx, a)
    assert first.halted and first.waves[-1].failed_accounts == ["app-prod-02"]
    failed = next(r for r in first.waves[-1].results if r.account_name == "app-prod-02")
    assert failed.stack_status == "ROLLBACK_COMPLETE" and "Access Denied" in (failed.error or ""), failed
    assert statuses(first)["app-prod-01"] == "created"  # the wave before it stands

    behaviour({"cloudformation": {"in_progress_seconds": 0.3}})  # the cause is fixed
    again = run(fleet_ctx, a, rerun_failed_only=True, run_id="r2")
    assert not again.halted and statuses(again)["app-prod-02"] == "created"  # deleted, then created afresh
    stack = fleet_ctx.client("cloudformation", failing).describe_stacks(StackName="fleet-security-baseline")
    assert stack["Stacks"][0]["StackStatus"] == "CREATE_COMPLETE"


def test_a_retried_try_reports_what_the_lost_try_deployed(fleet_ctx, tmp_path):
    """A worker lost mid-rollout: the retry credits the lost try with every account it deployed (the
    report and the ledger say which try deployed which account), and deploys each stack once."""
    a = make_bundle(fleet_ctx, tmp_path, "a", "365")
    waves = prod.waves(fleet_ctx, a)
    ledger = Ledger(fleet_ctx)
    ledger.ensure_table()
    # Try 1 finished waves 1 and 2, marked wave 3 as deploying, executed two of its accounts and was lost.
    rollout.run_waves(fleet_ctx, waves[:2], a.digest, max_concurrent=4, failure_tolerance=0, ledger=ledger,
                      run_id="lost", try_number=1, log=lambda *_: None)
    previous = ledger.get_many(f"{t.account_id}#{t.region}#{t.stack_name}" for t in waves[2])
    ledger.mark_deploying(waves[2], a.digest, "lost", 1, previous)
    lost = first_accounts(waves[2], 2)
    assert {r.status for r in deploy_all(fleet_ctx, lost, a.digest, max_concurrent=4)} == {"created"}

    retry = run(fleet_ctx, a, run_id="lost", try_number=2)
    key = lambda x: (x.account_name, x.stack_name)  # noqa: E731
    by = {key(r): (r.status, r.try_number) for w in retry.waves for r in w.results}
    first_try = [key(t) for w in waves[:2] for t in w] + [key(t) for t in lost]
    later = [key(t) for t in waves[2] if t not in lost]
    assert {by[k] for k in first_try} == {("created", 1)}, by
    assert {by[k] for k in later} == {("created", 2)}, by
    ledger_says = {key(e): (e.status, e.try_number, e.run_id) for e in ledger.scan()}
    assert {ledger_says[k] for k in first_try} == {("created", 1, "lost")}
    assert {ledger_says[k] for k in later} == {("created", 2, "lost")}
    for w in waves:  # every stack created exactly once
        for t in w:
            events = fleet_ctx.client("cloudformation", t.account_id).describe_stack_events(
                StackName=t.stack_name)["StackEvents"]
            done = [e for e in events if e["ResourceType"] == "AWS::CloudFormation::Stack"
                    and e["ResourceStatus"] in ("CREATE_COMPLETE", "UPDATE_COMPLETE")]
            assert len(done) == 1, (t.account_name, done)
    # Another run finds it all applied: skipped, as before.
    assert {r.status for w in run(fleet_ctx, a, run_id="next", try_number=1).waves for r in w.results} == {"skipped"}
