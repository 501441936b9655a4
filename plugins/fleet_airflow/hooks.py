"""The one place an Airflow AWS connection becomes the core's AwsContext."""

from __future__ import annotations

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

from fleet.aws import AwsContext, retry_config


class FleetAwsHook(AwsBaseHook):
    """``aws_conn_id`` holds the management account's credentials; endpoints come from its extra.

    Retry settings from the connection's ``config_kwargs`` win over ours, so operators can tune the
    retry mode and attempts per environment without a code change.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("client_type", "sts")
        super().__init__(*args, **kwargs)

    def fleet_context(self, region: str, pipeline_role: str) -> AwsContext:
        return AwsContext(
            session=self.get_session(region_name=region),
            region=region,
            pipeline_role=pipeline_role,
            endpoint_url=self.conn_config.get_service_endpoint_url,
            config=retry_config(self.config if self.conn_config.botocore_config else None),
        )
