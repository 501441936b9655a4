"""CloudFormation change sets (CreateChangeSet / DescribeChangeSet / ExecuteChangeSet)."""

from __future__ import annotations

from typing import Any

from localaws.patching import replace_method


def change_set_execution_updates_stack() -> None:
    """After ExecuteChangeSet the stack is the change set's template and parameters: DescribeStacks
    shows its Outputs (and exports, usable by Fn::ImportValue and listed by ListExports), its
    Description and its parameters (CloudFormation API reference, ExecuteChangeSet/DescribeStacks),
    for CREATE and UPDATE change sets alike. moto 5.2.5 builds a change-set stack from an empty
    template and never re-reads it, so the stack has no Outputs; it also keeps the old parameters,
    so a later change set with those same new values is not seen as "no changes"."""
    from moto.cloudformation.models import ChangeSet, cloudformation_backends

    def make(original: Any) -> Any:
        def apply(self: Any) -> None:
            stack = self.stack
            backend = cloudformation_backends[stack.account_id][stack.region_name]
            # Fn::ImportValue in a change-set stack resolves against the region's exports, as in
            # CreateStack (moto only wires them for CreateStack).
            stack.resource_map.cross_stack_resources = backend.exports
            original(self)
            stack.template = self.template
            stack._parse_template()
            stack.description = stack.template_dict.get("Description")
            if self.parameters or self.change_set_type == "UPDATE":
                stack.parameters = dict(self.parameters)
            stack.output_map = stack._create_output_map()
            for name in [n for n, e in backend.exports.items()
                         if e.exporting_stack_id == stack.stack_id]:
                del backend.exports[name]
            backend._validate_export_uniqueness(stack)
            for export in stack.exports:
                backend.exports[export.name] = export

        return apply

    replace_method(ChangeSet, "apply", make)


def change_set_lists_parameter_changes() -> None:
    """A change set whose template is unchanged but whose parameter values differ lists, as
    Modify, every resource that refers to a changed parameter (DescribeChangeSet Changes).
    moto 5.2.5 diffs only the template, so such a change set is CREATE_COMPLETE with no Changes,
    although executing it does modify those resources."""
    from moto.cloudformation.models import Change, ChangeSet

    def make(_original: Any) -> Any:
        def diff(self: Any) -> list[Any]:
            resource_map = self.stack.resource_map
            by_action = resource_map.build_resource_diff(self.template_dict, self.parameters)
            old = resource_map._resource_json_map
            new = self.template_dict["Resources"]
            changes = []
            for action, names in by_action.items():
                for name in names:
                    source = old if action == "Remove" else new
                    changes.append(Change(action=action, logical_resource_id=name,
                                          resource_type=source[name]["Type"]))
            return changes

        return diff

    replace_method(ChangeSet, "diff", make)


def conditional_resources_follow_their_condition() -> None:
    """A resource whose Condition is false does not exist: DescribeStackResources and
    ListStackResources leave it out, an update that makes the condition true creates it, and one
    that makes it false deletes it (CloudFormation user guide, Conditions). A modified resource
    whose type has no in-place update is replaced. moto 5.2.5 lists a condition-false resource as
    an empty entry (boto3 then has no LogicalResourceId), and on update stores None for resources
    it cannot update, so they vanish from the stack while still existing."""
    from moto.cloudformation import parsing
    from moto.cloudformation.models import Stack

    def make_update(original: Any) -> Any:
        def parse_and_update_resource(logical_id: str, resource_json: dict[str, Any],
                                      resources_map: Any, account_id: str,
                                      region_name: str) -> Any:
            existing = resources_map._parsed_resources.get(logical_id)
            condition = resource_json.get("Condition")
            if condition and not resources_map.lazy_condition_map[condition]:
                if existing is not None:
                    resources_map._delete_resource(existing, resource_json)
                return None
            if existing is None:
                return parsing.parse_and_create_resource(logical_id, resource_json, resources_map,
                                                         account_id, region_name)
            resource_class = parsing.resource_class_from_type(resource_json["Type"])
            if resource_class is not None and hasattr(
                    resource_class.update_from_cloudformation_json, "__isabstractmethod__"):
                resources_map._delete_resource(existing, resource_json)
                return parsing.parse_and_create_resource(logical_id, resource_json, resources_map,
                                                         account_id, region_name)
            return original(logical_id, resource_json, resources_map, account_id, region_name)

        return parse_and_update_resource

    replace_method(parsing, "parse_and_update_resource", make_update)

    if not getattr(Stack.stack_resources, "__localaws_patch__", False):
        def stack_resources(self: Any) -> list[Any]:
            return [r for r in self.resource_map.values() if r is not None]

        stack_resources.__localaws_patch__ = True  # type: ignore[attr-defined]
        Stack.stack_resources = property(stack_resources)  # type: ignore[assignment]


def change_set_without_changes_is_created_failed() -> None:
    """CreateChangeSet with the stack's own template and parameter values succeeds; the change set
    is FAILED with "The submitted information didn't contain changes..." (CloudFormation user
    guide, change sets). "No updates are to be performed" is UpdateStack's error, never
    CreateChangeSet's. moto 5.2.5 raises it from CreateChangeSet whenever every parameter value
    is passed explicitly, and only reaches its own FAILED change set otherwise."""
    from moto.cloudformation.responses import CloudFormationResponse

    def make(original: Any) -> Any:
        def _validate_different_update(self: Any, incoming_params: Any, stack_body: str,
                                       old_stack: Any) -> None:
            if self._get_action() == "CreateChangeSet":
                return  # the backend marks the change set FAILED, as AWS does
            original(self, incoming_params, stack_body, old_stack)

        return _validate_different_update

    replace_method(CloudFormationResponse, "_validate_different_update", make)


PATCHES = [change_set_without_changes_is_created_failed, change_set_execution_updates_stack, change_set_lists_parameter_changes,
           conditional_resources_follow_their_condition]
