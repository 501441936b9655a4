"""Drift's state: each stack's last StackResourceDrift per resource, kept on moto's own Stack object
(so it goes when the stack goes, and with moto's reset), and how a request names a stack."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from localaws.drift.exceptions import ValidationError

_STATE = "localaws_resource_drifts"  # attribute on moto's Stack: logical id -> last StackResourceDrift


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def stack_named(account: str, region: str, name: str, deleted_ok: bool = False):
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in backend.stacks.values():
        if (stack.name == name or stack.stack_id == name) and stack.status != "DELETE_COMPLETE":
            return stack
    if deleted_ok and name in backend.deleted_stacks:  # a deleted stack is still reachable by its id
        return backend.deleted_stacks[name]
    raise ValidationError(f"Stack with id {name} does not exist")


def resource_type(stack: Any, logical_id: str) -> str:
    return stack.template_dict["Resources"][logical_id].get("Type", "")


def created_resources(stack: Any) -> dict[str, Any]:
    # Read what moto already made; indexing the ResourceMap itself would create what is missing.
    return dict(getattr(stack.resource_map, "_parsed_resources", {}))


def resource_drifts(stack: Any) -> dict[str, dict]:
    state = stack.__dict__.get(_STATE)
    if state is None:
        state = stack.__dict__[_STATE] = {}
    return state
