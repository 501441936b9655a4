"""The one place an Airflow AWS connection becomes the core's AwsContext.

``FleetAwsMixin`` gives fleet operators and sensors the Amazon provider's parameter names
(``aws_conn_id``, ``region_name``) plus the pipeline role, and builds the hook and the core's context
once per task instance, as the provider's ``AwsBaseHookMixin`` caches its hook.
"""

from __future__ import annotations

from functools import cached_property

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from fleet.aws import AwsContext, retry_config

# What every fleet operator, sensor and trigger needs to reach AWS; templated like the provider's.
CONNECTION_FIELDS = ("aws_conn_id", "region_name", "pipeline_role")


def fleet_template_fields(*fields: str) -> tuple[str, ...]:
    """``fields`` plus the connection fields, sorted (the provider's ``aws_template_fields`` shape)."""
    return tuple(sorted(set(CONNECTION_FIELDS) | set(fields)))


class FleetAwsHook(AwsBaseHook):
    """``aws_conn_id`` holds the management account's credentials; endpoints come from its extra.

    Retry settings from the connection's ``config_kwargs`` win over ours, so operators can tune the
    retry mode and attempts per environment without a code change.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("client_type", "sts")
        super().__init__(*args, **kwargs)

    def fleet_context(self, region_name: str, pipeline_role: str) -> AwsContext:
        return AwsContext(
            session=self.get_session(region_name=region_name),
            region=region_name,
            pipeline_role=pipeline_role,
            endpoint_url=self.conn_config.get_service_endpoint_url,
            config=retry_config(self.config if self.conn_config.botocore_config else None),
        )


def fleet_context(aws_conn_id: str | None, region_name: str, pipeline_role: str) -> AwsContext:
    """A context for code that is not an operator: TaskFlow tasks and triggers."""
    return FleetAwsHook(aws_conn_id=aws_conn_id, region_name=region_name).fleet_context(region_name, pipeline_role)


class FleetAwsMixin:
    """The connection side of a fleet operator or sensor.

    Only read ``hook``/``fleet_context`` from ``execute`` and later: the fields are templates until
    then. A deferred task resumes on a new instance, so nothing cached outlives a task's try.
    """

    aws_conn_id: str | None
    region_name: str
    pipeline_role: str

    @cached_property
    def hook(self) -> FleetAwsHook:
        return FleetAwsHook(aws_conn_id=self.aws_conn_id, region_name=self.region_name)

    @cached_property
    def fleet_context(self) -> AwsContext:
        # One context per task: its clients and assumed-role credentials (refreshed before they
        # expire) are reused by every call the task makes.
        return self.hook.fleet_context(self.region_name, self.pipeline_role)


def context_from_settings(aws_conn_id: str | None, settings: dict) -> AwsContext:
    """The context for a TaskFlow task from a preflight's settings (``region``, ``pipeline_role``)."""
    return fleet_context(aws_conn_id, settings["region"], settings["pipeline_role"])
