"""AWS::IAM::Role in CloudFormation templates."""

from __future__ import annotations

import copy
import json
from typing import Any

from localaws.patching import replace_classmethod


def _json(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def role_inline_policies_are_json() -> None:
    """AWS::IAM::Role `Policies[].PolicyDocument` is a JSON object in templates; GetRolePolicy
    returns it as a (URL-encoded) JSON document. moto 5.2.5 stores the parsed object, so
    GetRolePolicy returns its Python repr ("{'Version': ...}"), which no JSON parser reads."""
    from moto.iam.models import Role

    def make(original: Any) -> Any:
        def create_from_cloudformation_json(cls: Any, resource_name: str, cloudformation_json: Any,
                                            account_id: str, region_name: str, **kwargs: Any) -> Any:
            fixed = copy.deepcopy(cloudformation_json)
            for policy in fixed.get("Properties", {}).get("Policies", []) or []:
                policy["PolicyDocument"] = _json(policy["PolicyDocument"])
            return original(cls, resource_name, fixed, account_id, region_name, **kwargs)

        return create_from_cloudformation_json

    replace_classmethod(Role, "create_from_cloudformation_json", make)


def role_updates_in_place() -> None:
    """AWS::IAM::Role: AssumeRolePolicyDocument, Description, MaxSessionDuration, Policies and
    Tags update with no interruption (CloudFormation resource reference); RoleName and Path
    require replacement. moto 5.2.5 only updates the description and reads MaxSessionDuration
    from 'RoleDescription': changed inline policies, trust policy and tags are ignored."""
    from moto.iam.models import Role, iam_backends
    from moto.utilities.utils import get_partition

    def make(original: Any) -> Any:
        def update_from_cloudformation_json(cls: Any, original_resource: Any, new_resource_name: str,
                                            cloudformation_json: Any, account_id: str,
                                            region_name: str) -> Any:
            props = cloudformation_json.get("Properties", {})
            if (props.get("RoleName", original_resource.name) != original_resource.name
                    or props.get("Path", "/") != original_resource.path):
                cls.delete_from_cloudformation_json(original_resource.name, cloudformation_json,
                                                    account_id, region_name)
                return cls.create_from_cloudformation_json(
                    props.get("RoleName", new_resource_name), cloudformation_json, account_id,
                    region_name)
            backend = iam_backends[account_id][get_partition(region_name)]
            role = original_resource
            role.description = props.get("Description", "")
            role.max_session_duration = int(props.get("MaxSessionDuration", 3600))
            role.assume_role_policy_document = _json(props["AssumeRolePolicyDocument"])
            wanted = {p["PolicyName"]: _json(p["PolicyDocument"]) for p in props.get("Policies", []) or []}
            for name in list(role.policies):
                if name not in wanted:
                    role.delete_policy(name)
            for name, document in wanted.items():
                role.put_policy(name, document)
            tags = props.get("Tags") or []
            backend._tag_verification(tags)
            role.tags = [{"Key": t["Key"], "Value": t["Value"]} for t in tags]
            return role

        return update_from_cloudformation_json

    replace_classmethod(Role, "update_from_cloudformation_json", make)


PATCHES = [role_inline_policies_are_json, role_updates_in_place]
