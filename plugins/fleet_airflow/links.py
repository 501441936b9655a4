"""Operator extra links: buttons on a task that open the Fleet page's run report or the AWS console.

The Amazon provider's shape (``BaseAwsLink``): the task stores the link's parts in an XCom
(``persist``), and at the end of the task the worker turns them into the URL the UI shows. The run
report, plan and approval request open the run's page on the Fleet page (readable by anyone who can
log in to Airflow, and it works on local AWS); a failed stack opens the AWS console, built from the
partition's console domain, the region and resource ids, never from an endpoint.
"""

from __future__ import annotations

import functools
import logging
from typing import Any, ClassVar
from urllib.parse import quote

from airflow.providers.amazon.aws.links.base_aws import BaseAwsLink

log = logging.getLogger(__name__)

CONSOLE = "https://console.{aws_domain}"


def _never_fails(func):
    """A link is a convenience: storing it must never fail the task (the provider's links behave so)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except Exception:
            log.warning("could not store the %s link", getattr(args[0], "name", "extra"), exc_info=True)
            return None

    return wrapper


def split_s3_location(location: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key)."""
    if not location.startswith("s3://") or "/" not in location[5:]:
        raise ValueError(f"expected an s3://bucket/key location, got {location!r}")
    bucket, _, key = location[5:].partition("/")
    return bucket, key


class FleetLink(BaseAwsLink):
    """Quotes every part but the domain, so run ids and keys are safe inside the URL."""

    def format_link(self, **kwargs: Any) -> str:
        return super().format_link(**{k: v if k == "aws_domain" else quote(str(v), safe="")
                                      for k, v in kwargs.items()})

    @classmethod
    @_never_fails
    def persist_for(cls, context, operator, *, ctx, **parts: Any) -> None:
        """Store the link's parts for ``operator``'s task, with the core context's region and partition."""
        cls.persist(context=context, operator=operator, region_name=ctx.region, aws_partition=ctx.partition,
                    **parts)


class S3ObjectLink(FleetLink):
    format_str = CONSOLE + "/s3/object/{bucket}?region={region_name}&prefix={key}"

    @classmethod
    @_never_fails
    def persist_location(cls, context, operator, *, ctx, location: str) -> None:
        bucket, key = split_s3_location(location)
        cls.persist_for(context, operator, ctx=ctx, bucket=bucket, key=key)


def fleet_page_base() -> str:
    """Where the Airflow UI is served ([api] base_url), without a trailing slash; "" for a relative URL."""
    from airflow.configuration import conf

    base = (conf.get("api", "base_url", fallback="") or "").rstrip("/")
    return "" if base in {"", "/"} else base


def run_key_of(key: str) -> str:
    """The run's key segment from an artifact key (``reports/<run>/report.json``, ``plans/<run>/plan.json``,
    ``approvals/<run>/request.json``): the Fleet page finds a run's report by it."""
    parts = key.split("/")
    if len(parts) < 3:
        raise ValueError(f"expected <kind>/<run>/<file> as the artifact key, got {key!r}")
    return parts[1]


class FleetPageLink(FleetLink):
    """A section of a run's page on the Fleet page (``/fleet/runs/<run>``), served by the API server
    behind Airflow's login; the page itself links to the S3 objects and the AWS console."""

    anchor: ClassVar[str] = ""
    format_str = "{base_url}/fleet/runs/{run}{anchor}"

    def format_link(self, **kwargs: Any) -> str:
        if not kwargs.get("run"):
            return ""
        return self.format_str.format(base_url=fleet_page_base(), run=quote(str(kwargs["run"]), safe=""),
                                      anchor=self.anchor)

    @classmethod
    @_never_fails
    def persist_location(cls, context, operator, *, ctx, location: str) -> None:
        _, key = split_s3_location(location)
        cls.persist_for(context, operator, ctx=ctx, run=run_key_of(key), location=location)


class RunReportLink(FleetPageLink):
    """The run report: stages, accounts and the reason of every failure."""

    name = "Run report"
    key = "fleet_run_report"


class ProdPlanLink(FleetPageLink):
    """The prod plan (``plans/<run>/plan.json``), shown with the run's report."""

    name = "Prod plan"
    key = "fleet_prod_plan"
    anchor = "#plan"


class ApprovalRequestLink(FleetPageLink):
    """The run's approval request (S3 object or DynamoDB item, ``approval.store``): who may decide, how."""

    name = "Approval request"
    key = "fleet_approval_request"
    anchor = "#approval"

    @classmethod
    @_never_fails
    def persist_for(cls, context, operator, *, ctx, **parts: Any) -> None:
        if "key" in parts and "run" not in parts:
            parts["run"] = run_key_of(parts["key"])
        super().persist_for(context, operator, ctx=ctx, **parts)


class CloudFormationStackLink(FleetLink):
    """The stacks of a deployment by name, in the region of the first one.

    Member-account stacks open after switching to the pipeline role in that account: a console URL
    cannot switch accounts by itself.
    """

    name = "CloudFormation stack"
    key = "fleet_cloudformation_stack"
    format_str = CONSOLE + "/cloudformation/home?region={region_name}#/stacks?filteringText={stack_name}"

    @classmethod
    @_never_fails
    def persist_deployments(cls, context, operator, *, ctx, deployments: list[dict]) -> None:
        if deployments:
            first = deployments[0]
            cls.persist(context=context, operator=operator, region_name=first["region"],
                        aws_partition=ctx.partition, stack_name=first["stack_name"])


ALL_LINKS = (RunReportLink(), ProdPlanLink(), ApprovalRequestLink(), CloudFormationStackLink())


def attach(task_output, *links: BaseAwsLink):
    """Give a TaskFlow task extra links (``@task`` has no parameter for them); returns ``task_output``.

    The worker stores a link's URL only for the links on the task's own operator, so they go there.
    """
    operator = task_output.operator
    operator.operator_extra_links = (*operator.operator_extra_links, *links)
    return task_output
