"""AWS::SSM::Parameter in CloudFormation templates."""

from __future__ import annotations

import copy
from typing import Any

from localaws.patching import replace_classmethod


def parameter_name_generated() -> None:
    """AWS::SSM::Parameter `Name` is optional: CloudFormation generates one (Ref returns it), and
    changing Value, Description or Tags keeps it (no interruption; CloudFormation resource
    reference). moto 5.2.5 calls PutParameter with Name=None and the stack fails
    (AttributeError on None.lower()); its update re-creates the parameter under a new name."""
    from moto.ssm.models import Parameter

    def make_create(original: Any) -> Any:
        def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            if cloudformation_json.get("Properties", {}).get("Name"):
                return original(cls, resource_name, cloudformation_json, account_id, region_name,
                                **kwargs)
            fixed = copy.deepcopy(cloudformation_json)
            fixed.setdefault("Properties", {})["Name"] = resource_name
            return original(cls, resource_name, fixed, account_id, region_name, **kwargs)

        return create_from_cloudformation_json

    def make_update(original: Any) -> Any:
        def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            name = cloudformation_json.get("Properties", {}).get("Name") or original_resource.name
            return original(cls, original_resource, name, cloudformation_json, account_id,
                            region_name)

        return update_from_cloudformation_json

    replace_classmethod(Parameter, "create_from_cloudformation_json", make_create)
    replace_classmethod(Parameter, "update_from_cloudformation_json", make_update)


PATCHES = [parameter_name_generated]
