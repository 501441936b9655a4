"""The extra links' URLs: the console of the partition, the region and the resource, never an endpoint."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from fleet_airflow.links import (ApprovalRequestLink, CloudFormationStackLink, ProdPlanLink, RunReportLink, attach,
                                 split_s3_location)

RUN_KEY = "manual__2026-11-28T10_00_00+00_00"  # approval.safe_key of a manual run id
BUCKET = "fleet-artifacts-123456789012-eu-west-1"


class FakeTi:
    def __init__(self):
        self.pushed = {}

    def xcom_push(self, key, value):
        self.pushed[key] = value


def stored(link_cls, persist, partition: str = "aws", **kwargs) -> str:
    """Persist through ``persist`` as a task would, then format the link from what was stored."""
    ti, operator = FakeTi(), SimpleNamespace(do_xcom_push=True)
    ctx = SimpleNamespace(region="eu-west-1", partition=partition, endpoint_url="http://127.0.0.1:4566")
    persist({"ti": ti}, operator, ctx=ctx, **kwargs)
    url = link_cls().format_link(**ti.pushed[link_cls.key])
    assert "127.0.0.1" not in url and "4566" not in url
    return url


@pytest.fixture(autouse=True)
def ui_base_url(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "https://airflow.example.com/")


def test_run_report_opens_the_runs_page_on_the_fleet_page():
    url = stored(RunReportLink, RunReportLink.persist_location,
                 location=f"s3://{BUCKET}/reports/{RUN_KEY}/report.json")
    assert url == "https://airflow.example.com/fleet/runs/manual__2026-11-28T10_00_00%2B00_00"


def test_prod_plan_opens_the_plan_section_of_the_runs_page():
    url = stored(ProdPlanLink, ProdPlanLink.persist_location, location=f"s3://{BUCKET}/plans/{RUN_KEY}/plan.json")
    assert url == "https://airflow.example.com/fleet/runs/manual__2026-11-28T10_00_00%2B00_00#plan"


def test_without_a_base_url_the_link_is_relative_to_the_ui(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "/")
    url = stored(RunReportLink, RunReportLink.persist_location, location=f"s3://{BUCKET}/reports/r1/report.json")
    assert url == "/fleet/runs/r1"


@pytest.mark.parametrize("store", ["s3", "dynamodb"])
def test_approval_request_opens_the_approval_section_in_either_store(store):
    url = stored(ApprovalRequestLink, ApprovalRequestLink.persist_for, store=store, table="fleet-approvals",
                 bucket=BUCKET, key=f"approvals/{RUN_KEY}/request.json")
    assert url == "https://airflow.example.com/fleet/runs/manual__2026-11-28T10_00_00%2B00_00#approval"


def test_cloudformation_stack_in_the_deployments_region():
    deployments = [{"account_id": "111122223333", "region": "eu-central-1", "stack_name": "fleet-baseline"}]
    url = stored(CloudFormationStackLink, CloudFormationStackLink.persist_deployments, deployments=deployments)
    assert url == ("https://console.aws.amazon.com/cloudformation/home?region=eu-central-1"
                   "#/stacks?filteringText=fleet-baseline")


def test_the_partition_picks_the_console_domain():
    deployments = [{"account_id": "111122223333", "region": "cn-north-1", "stack_name": "fleet-baseline"}]
    url = stored(CloudFormationStackLink, CloudFormationStackLink.persist_deployments, partition="aws-cn",
                 deployments=deployments)
    assert url.startswith("https://console.amazonaws.cn/cloudformation/home?region=cn-north-1")


def test_nothing_stored_no_link():
    assert RunReportLink().format_link() == ""  # the task failed before its report: the button stays empty


def test_a_location_that_is_not_s3_is_refused_by_name():
    with pytest.raises(ValueError, match="expected an s3://bucket/key location, got 'reports/x'"):
        split_s3_location("reports/x")


def test_attach_puts_links_on_a_taskflow_tasks_operator():
    from airflow.sdk import DAG, task

    with DAG("links_test", schedule=None):
        @task
        def report() -> dict:
            return {}

        out = attach(report(), RunReportLink())
    assert [link.name for link in out.operator.operator_extra_links] == ["Run report"]


def test_the_plugin_registers_every_link_without_binding_operators():
    import fleet_plugin

    links = fleet_plugin.FleetPlugin.operator_extra_links
    assert {link.name for link in links} == {"Run report", "Prod plan", "Approval request", "CloudFormation stack"}
    assert all(not link.operators for link in links)
