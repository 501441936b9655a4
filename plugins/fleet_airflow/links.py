"""Operator extra links: buttons on a task that open the AWS console where a person wants to look.

The Amazon provider's shape (``BaseAwsLink``): the task stores the link's parts in an XCom
(``persist``), and at the end of the task the worker turns them into the URL the UI shows. URLs are
built from the partition's console domain, the region and resource ids, never from an endpoint (a
local AWS endpoint has no console).
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


class RunReportLink(S3ObjectLink):
    """The run report's HTML page, beside its JSON in ``reports/<run>/``."""

    name = "Run report"
    key = "fleet_run_report"

    @classmethod
    @_never_fails
    def persist_location(cls, context, operator, *, ctx, location: str) -> None:
        # The task returns the JSON's location; people read the HTML written beside it.
        super().persist_location(context, operator, ctx=ctx, location=location.rsplit("/", 1)[0] + "/report.html")


class ProdPlanLink(S3ObjectLink):
    """The prod plan artifact, ``plans/<run>/plan.json``."""

    name = "Prod plan"
    key = "fleet_prod_plan"


class ApprovalRequestLink(FleetLink):
    """The run's approval request: its S3 object, or the DynamoDB table holding it (``approval.store``)."""

    name = "Approval request"
    key = "fleet_approval_request"
    format_str = S3ObjectLink.format_str
    dynamodb_format_str: ClassVar[str] = CONSOLE + "/dynamodbv2/home?region={region_name}#item-explorer?table={table}"

    def format_link(self, **kwargs: Any) -> str:
        if kwargs.get("store") == "dynamodb":
            quoted = {k: v if k == "aws_domain" else quote(str(v), safe="") for k, v in kwargs.items()}
            try:
                return self.dynamodb_format_str.format(**quoted)
            except KeyError:
                return ""
        return super().format_link(**kwargs)


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
