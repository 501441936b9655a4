"""AWS::KMS::Key in CloudFormation templates."""

from __future__ import annotations

import copy
import json
from typing import Any

from localaws.patching import replace_classmethod


def _api_tags(cfn_tags: list[dict[str, str]]) -> list[dict[str, str]]:
    # CloudFormation writes tags as Key/Value, the KMS API (and moto's tagger) as TagKey/TagValue.
    return [{"TagKey": t["Key"], "TagValue": t["Value"]} for t in cfn_tags or []]


def key_tags_from_template() -> None:
    """AWS::KMS::Key `Tags` is a list of {Key, Value} (CloudFormation resource reference); the key
    is created with those tags (ListResourceTags shows them). moto 5.2.5 hands the CloudFormation
    list straight to its KMS tagger, which expects TagKey/TagValue, and the stack fails with
    KeyError 'TagKey'. Also: KeyPolicy optional, and stored as the JSON string the API returns."""
    from moto.kms.models import Key

    def make(original: Any) -> Any:
        def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            fixed = copy.deepcopy(cloudformation_json)
            props = fixed.setdefault("Properties", {})
            props["Tags"] = _api_tags(props.get("Tags", []))
            # KeyPolicy is optional (AWS then attaches the default key policy) and is a JSON
            # object in templates; the KMS API stores and returns it as a JSON string. moto needs
            # the key, and stores the object as is, so GetKeyPolicy returns an object and
            # DescribeKey fails with a 500 (json.loads of a dict).
            policy = props.get("KeyPolicy")
            props["KeyPolicy"] = policy if policy is None or isinstance(policy, str) else json.dumps(policy)
            return original(cls, resource_name, fixed, account_id, region_name, **kwargs)

        return create_from_cloudformation_json

    replace_classmethod(Key, "create_from_cloudformation_json", make)


def key_updates_in_place() -> None:
    """AWS::KMS::Key: Description, Enabled, EnableKeyRotation, KeyPolicy and Tags update with no
    interruption (CloudFormation resource reference). moto 5.2.5 has no update for keys at all:
    a changed key property leaves the stack's resource empty (None) and the key unchanged."""
    from moto.kms.models import Key, kms_backends

    def make(_original: Any) -> Any:
        def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            backend = kms_backends[account_id][region_name]
            props = cloudformation_json.get("Properties", {})
            key = original_resource
            key.description = props.get("Description", "")
            key.enabled = bool(props.get("Enabled", True))
            key.key_state = "Enabled" if key.enabled else "Disabled"
            key.key_rotation_status = bool(props.get("EnableKeyRotation", False))
            if "KeyPolicy" in props:
                policy = props["KeyPolicy"]
                key.policy = policy if isinstance(policy, str) else json.dumps(policy)
            backend.tagger.delete_all_tags_for_resource(key.id)
            backend.tagger.tag_resource(key.id, _api_tags(props.get("Tags", [])))
            return key

        return update_from_cloudformation_json

    replace_classmethod(Key, "update_from_cloudformation_json", make)


PATCHES = [key_tags_from_template, key_updates_in_place]
