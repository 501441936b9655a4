"""Provisioned products as real CloudFormation stacks in moto, in the end user's account.

Service Catalog launches a product by creating a stack named ``SC-<account>-<pp-id>`` in the
account and region of the caller, with the LAUNCH constraint's role if there is one.  moto
creates stacks synchronously and signals a failing resource by raising from CreateStack (there
is no ROLLBACK state), so a launch either succeeds at once or fails at once; we turn the failure
into a FAILED record with RecordErrors, as Service Catalog reports a failed stack.
"""

from __future__ import annotations

from typing import Any

from . import templates


class StackError(Exception):
    """A stack operation failed; ``code`` and ``message`` become a RecordError."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _backend(account: str, region: str) -> Any:
    from moto.cloudformation.models import cloudformation_backends

    return cloudformation_backends[account][region]


def _error(exc: Exception) -> StackError:
    # moto's ServiceException carries the AWS code in ``code``; its older RESTError in
    # ``error_type`` (with ``code`` the HTTP status).
    code = getattr(exc, "error_type", None) or getattr(exc, "code", None)
    if not isinstance(code, str):
        code = type(exc).__name__
    message = getattr(exc, "message", None) or getattr(exc, "description", None) or str(exc)
    return StackError(str(code), str(message))


def check_parameters(template: str, values: dict[str, str]) -> None:
    """CloudFormation rejects unknown parameters and missing ones without a default; moto does
    not, so check here before touching the stack."""
    declared = {p["ParameterKey"]: p for p in templates.parameters(template)}
    unknown = sorted(set(values) - set(declared))
    if unknown:
        raise StackError("ValidationError", f"Parameters: {unknown} do not exist in the template")
    missing = sorted(k for k, p in declared.items() if k not in values and "DefaultValue" not in p)
    if missing:
        raise StackError("ValidationError", f"Parameters: {missing} must have values")
    for key, value in values.items():
        allowed = declared[key].get("ParameterConstraints", {}).get("AllowedValues")
        if allowed and value not in allowed:
            raise StackError("ValidationError", f"Parameter '{key}' must be one of AllowedValues")


def outputs_of(stack: Any) -> list[dict[str, str]]:
    """Stack outputs plus CloudformationStackARN, which Service Catalog adds to every record."""
    outputs = [
        {"OutputKey": "CloudformationStackARN", "OutputValue": stack.stack_id, "Description": "The ARN of the launched Cloudformation Stack"}
    ]
    for output in stack.outputs or []:
        item = {"OutputKey": output["OutputKey"], "OutputValue": str(output["OutputValue"])}
        if output.get("Description"):
            item["Description"] = output["Description"]
        outputs.append(item)
    return outputs


def create_stack(
    account: str,
    region: str,
    name: str,
    template: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    role_arn: str | None,
    notification_arns: list[str] | None,
) -> tuple[str, list[dict[str, str]]]:
    """Create the stack; (stack id, record outputs).  On failure remove what moto half-built,
    as CloudFormation's rollback would, and raise StackError."""
    check_parameters(template, parameters)
    backend = _backend(account, region)
    try:
        stack = backend.create_stack(
            name=name,
            template=template,
            parameters=dict(parameters),
            notification_arns=notification_arns or [],
            tags=dict(tags),
            role_arn=role_arn,
        )
    except Exception as exc:
        error = _error(exc)
        _discard(backend, name)
        raise error from exc
    return stack.stack_id, outputs_of(stack)


def update_stack(
    account: str,
    region: str,
    stack_id: str,
    template: str,
    parameters: dict[str, str],
    tags: dict[str, str],
    role_arn: str | None,
) -> list[dict[str, str]]:
    check_parameters(template, parameters)
    backend = _backend(account, region)
    try:
        stack = backend.update_stack(
            name=stack_id,
            template=template,
            role_arn=role_arn,
            parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
            tags=dict(tags),
        )
    except Exception as exc:
        raise _error(exc) from exc
    return outputs_of(stack)


def delete_stack(account: str, region: str, stack_id: str) -> None:
    backend = _backend(account, region)
    if stack_id not in backend.stacks:
        return  # already gone (rolled back at create, or deleted outside Service Catalog)
    try:
        backend.delete_stack(stack_id)
    except Exception as exc:
        raise _error(exc) from exc


def _discard(backend: Any, name: str) -> None:
    for stack_id, stack in list(backend.stacks.items()):
        if stack.name == name:
            try:
                backend.delete_stack(stack_id)
            except Exception:  # noqa: BLE001 - best effort; a half-built moto stack may not delete cleanly
                backend.stacks.pop(stack_id, None)
