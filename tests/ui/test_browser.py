"""The operator's path in a real browser: headless Chromium (Debian's `chromium`, driven by
Playwright through its executable path) against Airflow's real components (api-server with the UI,
scheduler, dag-processor, triggerer) and local AWS, as `make up` runs them.

admin submits account_fleet_pipeline's Trigger form with its defaults; platform-lead (an approver
who did not trigger it) logs in, opens Required actions, gives a reason and approves; the run
finishes; the Fleet page, opened from the navigation inside the Airflow UI, shows the prod
accounts in sync with the run's bundle; the run's report page shows its stages. With
FLEET_SCREENSHOT=<path> it also saves the Fleet page (docs/fleet-page.png was made so).
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


def log_in(browser, stack, user: str):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(120_000)
    page.goto(f"{stack.url}/")
    page.locator("input[name=username]").fill(user)
    page.locator("input[name=password]").fill(PASSWORD)
    page.locator("button[type=submit]").click()
    page.wait_for_url(f"{stack.url}/")
    return page


def test_operator_triggers_approves_in_required_actions_and_watches_the_fleet_page(airflow_stack, browser,
                                                                                   fresh_fleet):
    from fleet.config import load_config
    from tests.support import REPO

    stack = airflow_stack
    admin = stack.token("admin")

    # The Trigger form, submitted as it opens: every Param's default is accepted.
    page = log_in(browser, stack, "admin")
    page.goto(f"{stack.url}/dags/account_fleet_pipeline")
    page.get_by_role("button", name="Trigger").first.click()
    page.get_by_role("dialog").get_by_role("button", name="Trigger").click()
    page.wait_for_url("**/dags/account_fleet_pipeline/runs/manual__*")
    run_id = urllib.parse.unquote(page.url.rsplit("/runs/", 1)[1])
    status, run = stack.request("GET", f"/api/v2/dags/account_fleet_pipeline/dagRuns/{urllib.parse.quote(run_id)}",
                                admin)
    assert status == 200 and (run["conf"] or {}).get("source_ref") is None, run  # the form's defaults
    page.close()

    # An approver decides in Required actions, with a reason.
    stack.wait_task("account_fleet_pipeline", run_id, "prod.ui_approval", "awaiting_input", admin)
    page = log_in(browser, stack, "platform-lead")
    page.goto(f"{stack.url}/required_actions")
    page.get_by_role("link", name="Approve the prod rollout").first.click()
    page.locator("input[name=element_reason]").fill("plan reviewed: 8 accounts, baseline only")
    page.get_by_role("button", name="Approve").click()
    finished = stack.wait_run("account_fleet_pipeline", run_id, admin)
    states = stack.task_states("account_fleet_pipeline", run_id, admin)
    assert finished["state"] == "success", states
    status, hitl = stack.request("GET", f"/api/v2/dags/account_fleet_pipeline/dagRuns/{urllib.parse.quote(run_id)}"
                                 "/taskInstances/prod.ui_approval/-1/hitlDetails", admin)
    assert hitl["responded_by_user"]["id"] == "platform-lead" and hitl["chosen_options"] == ["Approve"], hitl

    # The Fleet page from the navigation, inside the Airflow UI: every prod account in sync.
    prod = [a for a in load_config(REPO / "include" / "fleet.yaml").accounts if a.ou == "Prod"]
    page.goto(f"{stack.url}/")
    page.get_by_role("button", name="Browse").click()
    page.get_by_role("menuitem", name="Fleet").click()
    fleet = page.frame_locator("iframe[title=Fleet]")
    fleet.locator("h1", has_text="Fleet").wait_for()
    assert int(fleet.locator("[data-status=in_sync] b").inner_text()) >= len(prod)
    assert fleet.locator("[data-status=failed] b").inner_text() == "0"

    shot = os.environ.get("FLEET_SCREENSHOT")
    if shot:
        solo = browser.new_page(viewport={"width": 1400, "height": 900}, storage_state=page.context.storage_state())
        solo.goto(f"{stack.url}/fleet/")
        solo.screenshot(path=shot, full_page=False)
        solo.close()

    # The run's report page, from the Fleet page: every stage succeeded.
    fleet.locator(f"a[href='runs/{urllib.parse.quote(run_id, safe='')}']").first.click()
    fleet.locator("h1", has_text=f"Run {run_id}").wait_for()
    stages = fleet.locator("h2#stages + table").inner_text()
    for stage in ("source", "build", "beta", "gamma", "prod"):
        assert stage in stages, stages
    assert "failed" not in stages, stages
    assert "succeeded" in fleet.locator("h2#waves + p").inner_text()
    page.close()
