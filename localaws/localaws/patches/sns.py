"""AWS::SNS::Topic and AWS::SNS::Subscription in CloudFormation templates."""

from __future__ import annotations

from typing import Any

from localaws.patching import replace_classmethod


def topic_tags_from_template() -> None:
    """AWS::SNS::Topic `Tags` tag the topic (CloudFormation resource reference):
    ListTagsForResource shows them. moto 5.2.5 creates the topic without them."""
    from moto.sns.models import Topic, sns_backends

    def make(original: Any) -> Any:
        def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            topic = original(cls, resource_name, cloudformation_json, account_id, region_name,
                             **kwargs)
            tags = {t["Key"]: t["Value"] for t in cloudformation_json.get("Properties", {}).get("Tags", [])}
            if tags:
                sns_backends[account_id][region_name].tag_resource(topic.arn, tags)
            return topic

        return create_from_cloudformation_json

    replace_classmethod(Topic, "create_from_cloudformation_json", make)


def subscription_resource() -> None:
    """AWS::SNS::Subscription subscribes Endpoint to TopicArn with Protocol (CloudFormation
    resource reference; Ref is the subscription ARN): ListSubscriptionsByTopic shows it, and it
    is unsubscribed on delete. moto 5.2.5 has no model for the type: the stack completes with no
    subscription."""
    from moto.cloudformation import parsing
    from moto.core.common_models import CloudFormationModel
    from moto.sns.models import sns_backends

    if "AWS::SNS::Subscription" in parsing.get_model_map():
        return

    class SnsSubscription(CloudFormationModel):
        def __init__(self, arn: str):
            self.arn = arn

        @property
        def physical_resource_id(self) -> str:
            return self.arn

        @staticmethod
        def cloudformation_name_type() -> str:
            return ""

        @staticmethod
        def cloudformation_type() -> str:
            return "AWS::SNS::Subscription"

        @classmethod
        def has_cfn_attr(cls, attr: str) -> bool:
            return attr == "Arn"

        def get_cfn_attribute(self, attribute_name: str) -> str:
            return self.arn

        @classmethod
        def create_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            props = cloudformation_json["Properties"]
            backend = sns_backends[account_id][region_name]
            subscription = backend.subscribe(props["TopicArn"], props["Endpoint"], props["Protocol"])
            return cls(subscription.arn)

        @classmethod
        def update_from_cloudformation_json(cls, original_resource: Any, new_resource_name: str,  # type: ignore[override]
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            # Endpoint, Protocol and TopicArn all require replacement.
            sns_backends[account_id][region_name].unsubscribe(original_resource.arn)
            return cls.create_from_cloudformation_json(new_resource_name, cloudformation_json,
                                                       account_id, region_name)

        @classmethod
        def delete_from_cloudformation_json(cls, resource_name: str, cloudformation_json: Any,  # type: ignore[override]
                                            account_id: str, region_name: str) -> None:
            sns_backends[account_id][region_name].unsubscribe(resource_name)

    parsing.get_model_map()["AWS::SNS::Subscription"] = SnsSubscription


PATCHES = [topic_tags_from_template, subscription_resource]
