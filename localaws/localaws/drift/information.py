"""DriftInformation on moto's own stack and resource descriptions (DescribeStacks, ListStacks,
DescribeStackResource(s), ListStackResources), as patches of moto's models and responses: moto
has no drift detection, so it shows no DriftInformation at all."""

from __future__ import annotations

from typing import Any

from localaws.drift.models import resource_drifts


def _resource_drift_information(stack: Any, logical_id: str | None) -> dict:
    drift = resource_drifts(stack).get(logical_id or "") if stack is not None else None
    if drift is None:
        return {"StackResourceDriftStatus": "NOT_CHECKED"}
    return {"StackResourceDriftStatus": drift["StackResourceDriftStatus"], "LastCheckTimestamp": drift["Timestamp"]}


def stack_drift_information() -> None:
    """DescribeStacks and ListStacks: DriftInformation (StackDriftStatus NOT_CHECKED until a
    detection completes, then its status and LastCheckTimestamp), as the API reference shows."""
    from moto.cloudformation.models import Stack

    if "drift_information" not in Stack.__dict__:
        Stack.drift_information = {"StackDriftStatus": "NOT_CHECKED"}  # instances override it


def resource_drift_information() -> None:
    """DescribeStackResource(s) and ListStackResources: each resource's DriftInformation
    (NOT_CHECKED for types without drift support and before any check)."""
    from moto.cloudformation import responses

    from localaws.patching import replace_method

    dto = responses.StackResourceDTO

    def make_init(original: Any) -> Any:
        def __init__(self: Any, stack: Any, resource: Any) -> None:
            original(self, stack, resource)
            self.drift_information = _resource_drift_information(stack, self.logical_resource_id)

        return __init__

    replace_method(dto, "__init__", make_init)

    def make_list(original: Any) -> Any:
        def list_stack_resources(self: Any) -> Any:
            result = original(self)
            stack = _stack_or_none(self.cloudformation_backend, self._get_param("StackName"))
            for summary in result.result.get("StackResourceSummaries", []):
                summary["DriftInformation"] = _resource_drift_information(stack, summary.get("LogicalResourceId"))
            return result

        return list_stack_resources

    replace_method(responses.CloudFormationResponse, "list_stack_resources", make_list)


def _stack_or_none(backend: Any, name: str) -> Any:
    try:
        return backend.get_stack(name)
    except Exception:  # noqa: BLE001 - moto answered the call already; no stack means NOT_CHECKED
        return None


PATCHES = [stack_drift_information, resource_drift_information]
