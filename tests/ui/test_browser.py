"""The operator's path in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright through its executable path) against Airflow's real API server and UI.

Logs in as platform-lead, submits account_fleet_pipeline's Trigger form with its defaults, opens
Required actions, opens the Fleet page from the navigation (inside the Airflow UI) and a run's report
page. With FLEET_SCREENSHOT=<path> it also saves the Fleet page (docs/fleet-page.png was made so).

What this does not do yet: approve in Required actions (no scheduler runs the triggered run to
its approval here), so the run report opened is one written through the core for the triggered
run's id, as its run_report task would write it.
"""

from __future__ import annotations

import os
import shutil
import urllib.parse

import pytest

from tests.support.stack import PASSWORD

CHROMIUM = "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run installs it when missing)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


def seed_fleet_state(ctx, run_id: str) -> None:
    """Prod accounts deployed by ``run_id`` and its report, written through the core as the DAG does."""
    from fleet import report, source
    from fleet.config import load_config
    from fleet.ledger import Ledger
    from fleet.stacks import DeployResult
    from tests.support import REPO

    config = load_config(REPO / "include" / "fleet.yaml")
    org = config.organization
    bucket = source.artifacts_bucket(org.management_account, org.home_region)
    s3 = ctx.client("s3")
    try:
        s3.create_bucket(Bucket=bucket)
    except s3.exceptions.BucketAlreadyOwnedByYou:
        pass
    ids = {a["Name"]: a["Id"] for a in ctx.client("organizations").list_accounts()["Accounts"]}
    digest = "4f1c" + "9" * 60
    ledger = Ledger(ctx)
    ledger.ensure_table()
    ledger.record([(DeployResult(ids[a.name], a.name, r, "fleet-security-baseline",
                                 "failed" if a.name == "app-prod-08" and r == "eu-west-1" else "created",
                                 error="AccessDenied: not authorized to perform iam:CreateRole"
                                 if a.name == "app-prod-08" and r == "eu-west-1" else None), digest)
                    for a in config.accounts if a.ou == "Prod" for r in org.regions], run_id)
    doc = report.build(run_id, {"bucket": bucket, "digest": digest, "commit": "8d2e" + "0" * 36},
                       {"source": {"status": "success", "summary": "42 files"},
                        "build": {"status": "success", "summary": "0 errors, 1 warnings"},
                        "beta": {"status": "success"}, "gamma": {"status": "success"},
                        "prod": {"status": "failed", "reason": "prod.rollout: rollout halted: failed app-prod-08"}})
    doc["failures"] = [{"stage": "prod", "task": "prod.rollout", "state": "failed",
                        "reason": "rollout halted: failed app-prod-08"}]
    report.store(ctx, doc)


def test_operator_triggers_opens_required_actions_the_fleet_page_and_a_run_report(airflow_stack, browser,
                                                                                   fresh_fleet, tmp_path):
    stack = airflow_stack
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)

    page.goto(f"{stack.url}/")
    page.locator("input[name=username]").fill("platform-lead")
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{stack.url}/")

    # The Trigger form, submitted as it opens: every Param's default is accepted.
    page.goto(f"{stack.url}/dags/account_fleet_pipeline")
    page.get_by_role("button", name="Trigger").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
    page.wait_for_url("**/dags/account_fleet_pipeline/runs/manual__*")
    run_id = urllib.parse.unquote(page.url.rsplit("/runs/", 1)[1])
    status, run = stack.request("GET", f"/api/v2/dags/account_fleet_pipeline/dagRuns/{urllib.parse.quote(run_id)}",
                                stack.token("admin"))
    assert status == 200 and (run["conf"] or {}).get("source_ref") is None, run  # the form's defaults

    page.goto(f"{stack.url}/required_actions")
    page.get_by_text("Required Actions", exact=False).first.wait_for()

    # The Fleet page from the navigation, inside the Airflow UI.
    # A fresh organization: the Fleet page judges "in sync" against the newest bundle in the ledger,
    # and other tests on this worker write ledger entries of their own bundles to the shared one.
    seed_fleet_state(fresh_fleet, run_id)
    page.goto(f"{stack.url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Fleet").click()
    fleet = page.frame_locator("iframe[title=Fleet]")
    fleet.locator("h1", has_text="Fleet").wait_for()
    assert fleet.locator("[data-status=in_sync] b").inner_text() == "7"
    assert fleet.locator("[data-status=failed] b").inner_text() == "1"

    shot = os.environ.get("FLEET_SCREENSHOT")
    if shot:
        solo = browser.new_page(viewport={"width": 1400, "height": 900}, storage_state=page.context.storage_state())
        solo.goto(f"{stack.url}/fleet/")
        solo.screenshot(path=shot, full_page=False)
        solo.close()

    # The run's report page: stages and the failing task's reason.
    fleet.locator(f"a[href='runs/{urllib.parse.quote(run_id, safe='')}']").first.click()
    fleet.locator("h1", has_text=f"Run {run_id}").wait_for()
    assert fleet.get_by_text("rollout halted: failed app-prod-08").first.is_visible()
    page.close()
