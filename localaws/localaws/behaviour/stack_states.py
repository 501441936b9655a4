"""Stack operations that take time and can fail and roll back, as in the AWS CloudFormation API.

moto creates, updates and deletes a stack within the call. Under a profile we let moto do the work
and then drive moto's own Stack objects (status, StackStatusReason, events, outputs, the change
set's ExecutionStatus) through the states AWS shows, so DescribeStacks, ListStacks,
DescribeStackEvents, DescribeChangeSet and every later call agree:

- create: CREATE_IN_PROGRESS for ``in_progress_seconds``, then CREATE_COMPLETE; Outputs appear with
  COMPLETE. A stack matching ``fail_stacks``: one resource CREATE_FAILED, the stack
  ROLLBACK_IN_PROGRESS ("The following resource(s) failed to create: [X]. Rollback requested by
  user.") for ``in_progress_seconds``, its resources deleted, then ROLLBACK_COMPLETE (OnFailure
  DO_NOTHING / DisableRollback: CREATE_FAILED, resources kept; OnFailure DELETE: deleted after the
  rollback). The change set's ExecutionStatus is EXECUTE_IN_PROGRESS, then EXECUTE_COMPLETE or
  EXECUTE_FAILED.
- update: UPDATE_IN_PROGRESS (the previous Outputs still shown), then
  UPDATE_COMPLETE_CLEANUP_IN_PROGRESS and UPDATE_COMPLETE.
- delete: DELETE_IN_PROGRESS (still found by name), then DELETE_COMPLETE.
- a stack in a state that cannot be updated (…_IN_PROGRESS, CREATE_FAILED, ROLLBACK_COMPLETE, ...)
  refuses UpdateStack, CreateChangeSet and ExecuteChangeSet: ValidationError "Stack:<arn> is in
  <STATE> state and can not be updated."; a change set already executing or failed refuses
  ExecuteChangeSet (InvalidChangeSetStatus). DeleteStack works in every state.

Stacks made by StackSets or Service Catalog (which call moto's backend in-process, not the API)
keep moto's synchronous behaviour.
"""

from __future__ import annotations

import collections.abc
import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable

from localaws import request
from localaws.behaviour import responses
from localaws.behaviour.state import State

log = logging.getLogger("localaws.behaviour")

NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
STACK_TYPE = "AWS::CloudFormation::Stack"
# Stack states in which AWS refuses an update (UpdateStack, CreateChangeSet, ExecuteChangeSet).
NOT_UPDATABLE = frozenset({
    "CREATE_IN_PROGRESS", "CREATE_FAILED", "ROLLBACK_IN_PROGRESS", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED",
    "DELETE_IN_PROGRESS", "DELETE_FAILED", "UPDATE_IN_PROGRESS", "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS",
    "UPDATE_ROLLBACK_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS", "UPDATE_ROLLBACK_FAILED",
})
NOT_EXECUTABLE = frozenset({"EXECUTE_IN_PROGRESS", "EXECUTE_FAILED"})
DEFAULT_REASON = "Resource creation failed (injected by the local AWS behaviour profile)"
OPERATIONS = frozenset({"CreateStack", "UpdateStack", "CreateChangeSet", "ExecuteChangeSet", "DeleteStack"})


def _naive_utc(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, timezone.utc).replace(tzinfo=None)


class _Outputs(collections.abc.Mapping):
    """A stack's outputs frozen as they were (or none), standing in for moto's lazy OutputMap."""

    def __init__(self, source: Any = None):
        self._outputs: dict[str, Any] = {}
        self._exports: list[Any] = []
        if source is not None:
            try:
                self._outputs = {k: source[k] for k in list(source.outputs)}
                self._exports = list(source.exports)
            except Exception:  # noqa: BLE001 - outputs that cannot resolve show as none
                self._outputs, self._exports = {}, []

    def __getitem__(self, key: str) -> Any:
        return self._outputs[key]

    def __iter__(self) -> Any:
        return iter(self._outputs)

    def __len__(self) -> int:
        return len(self._outputs)

    @property
    def outputs(self) -> Any:
        return self._outputs.keys()

    @property
    def exports(self) -> list[Any]:
        return list(self._exports)


@dataclass
class StackJob:
    """The remaining transitions of one stack operation, applied in order when due."""

    state: State
    stack: Any
    backend: Any
    change_set: Any = None
    outputs: Any = None  # the Outputs to show once the operation completes
    steps: list[list[Any]] = field(default_factory=list)  # [due, action(at), done]

    def add(self, due: float, action: Callable[[float], None]) -> None:
        self.steps.append([due, action, False])
        self.state.schedule(due, lambda _due, now: self.run(now))

    def run(self, now: float) -> None:
        """Apply every step due by ``now`` (called under the state lock)."""
        for step in self.steps:
            due, action, done = step
            if done:
                continue
            if due > now:
                return
            step[2] = True
            action(min(due, now))
        if self.state.jobs.get(self.stack.stack_id) is self:
            del self.state.jobs[self.stack.stack_id]

    def flush(self, now: float) -> None:
        """Finish at once (DeleteStack of a stack still in progress)."""
        for step in self.steps:
            if not step[2]:
                step[2] = True
                step[1](min(step[0], now))
        if self.state.jobs.get(self.stack.stack_id) is self:
            del self.state.jobs[self.stack.stack_id]


# -- events and resources -----------------------------------------------------------------------
def _event(stack: Any, logical_id: str, physical_id: str, rtype: str, status: str, reason: str | None,
           at: float) -> None:
    from moto.cloudformation.models import Event

    event = Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=logical_id,
                  physical_resource_id=physical_id, resource_type=rtype, resource_status=status,
                  resource_status_reason=reason, resource_properties=None)
    event.timestamp = _naive_utc(at)
    event.sendToSns(stack.account_id, stack.region_name, stack.notification_arns)
    stack.events.append(event)


def _stack_event(stack: Any, status: str, reason: str | None, at: float) -> None:
    _event(stack, stack.name, stack.stack_id, STACK_TYPE, status, reason, at)


def _drop_last_stack_event(stack: Any, status: str) -> None:
    if stack.events and stack.events[-1].resource_status == status and stack.events[-1].resource_type == STACK_TYPE:
        stack.events.pop()


def _restamp_last_stack_event(stack: Any, status: str, at: float) -> None:
    for event in reversed(stack.events):
        if event.resource_type == STACK_TYPE and event.resource_status == status:
            event.timestamp = _naive_utc(at)
            return


def _created(stack: Any) -> list[tuple[str, str, str]]:
    """(logical id, physical id, type) of the resources moto made, in creation order."""
    template = stack.template_dict.get("Resources") or {}
    out = []
    for logical_id, model in list(stack.resource_map._parsed_resources.items()):
        if logical_id in template and model is not None and not isinstance(model, str):
            physical = getattr(model, "physical_resource_id", None) or ""
            out.append((logical_id, str(physical), template[logical_id].get("Type", "")))
    return out


# -- the operations ---------------------------------------------------------------------------------
def plan(ext: Any, environ: dict[str, Any], sig: request.Signed, now: float, profile: Any) -> Any:
    params = request.query_params(environ)
    op = params.get("Action")
    if op not in OPERATIONS:
        return None
    from moto.cloudformation.models import cloudformation_backends

    account = request.account_of(environ, sig.access_key)
    backend = cloudformation_backends[account][sig.region]
    behaviour = profile.cloudformation
    delay = behaviour.in_progress_seconds
    state: State = ext.state
    name = params.get("StackName", "")

    if op == "CreateStack":
        failure = behaviour.failure_for(account, sig.region, name)
        if not delay and failure is None:
            return None
        on_failure = "DO_NOTHING" if params.get("DisableRollback", "").lower() == "true" else \
            params.get("OnFailure", "ROLLBACK")
        return lambda: _create_stack(ext, environ, backend, now, delay, failure, on_failure)

    if op == "UpdateStack":
        stack = _live(backend, name)
        if stack is not None and stack.status in NOT_UPDATABLE:
            return _refuse(stack)
        if stack is None or not delay:
            return None
        return lambda: _update(ext, environ, backend, stack, now, delay, None)

    if op == "CreateChangeSet":
        stack = _live(backend, name)
        if stack is None or stack.status not in NOT_UPDATABLE:
            return None
        if params.get("ChangeSetType", "CREATE") == "UPDATE":  # moto's default type is CREATE
            return _refuse(stack)
        response = responses.error("query", 400, "AlreadyExistsException",
                              f"Stack [{stack.name}] already exists and cannot be created again with the "
                              f"changeSet [{params.get('ChangeSetName', '')}].")
        return lambda: response

    if op == "ExecuteChangeSet":
        change_set = _change_set(backend, params.get("ChangeSetName", ""), name)
        if change_set is None:
            return None
        if change_set.execution_status in NOT_EXECUTABLE:
            response = responses.error("query", 400, "InvalidChangeSetStatus",
                                  f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                  f"status of [{change_set.execution_status}]")
            return lambda: response
        stack = change_set.stack
        if change_set.change_set_type == "UPDATE" and stack.status in NOT_UPDATABLE:
            return _refuse(stack)
        if change_set.change_set_type == "CREATE":
            failure = behaviour.failure_for(account, sig.region, stack.name)
            if not delay and failure is None:
                return None
            on_failure = "DO_NOTHING" if params.get("DisableRollback", "").lower() == "true" else "ROLLBACK"
            return lambda: _execute_create(ext, environ, backend, change_set, now, delay, failure, on_failure)
        if not delay:
            return None
        return lambda: _update(ext, environ, backend, stack, now, delay, change_set)

    # DeleteStack
    stack = _live(backend, name)
    if stack is None:
        return None  # moto: deleting a stack that does not exist succeeds
    if stack.status == "DELETE_IN_PROGRESS":
        return lambda: responses.xml_response("DeleteStack", namespace=NS)
    if not delay and stack.stack_id not in state.jobs:
        return None

    def delete() -> responses.Response:
        with state.lock:
            job = state.jobs.get(stack.stack_id)
            if job is not None:
                job.flush(now)
            if stack.stack_id not in backend.stacks:
                return responses.xml_response("DeleteStack", namespace=NS)  # OnFailure DELETE got there first
            if delay:
                _start_delete(state, backend, stack, now, delay)
                return responses.xml_response("DeleteStack", namespace=NS)
        return responses.call(ext.downstream, environ)

    return delete


def _refuse(stack: Any) -> Any:
    response = responses.error("query", 400, "ValidationError",
                          f"Stack:{stack.stack_id} is in {stack.status} state and can not be updated.")
    return lambda: response


def _live(backend: Any, name_or_id: str) -> Any:
    stack = backend.stacks.get(name_or_id)
    if stack is not None:
        return stack
    return next((s for s in list(backend.stacks.values()) if s.name == name_or_id), None)


def _change_set(backend: Any, name_or_id: str, stack_name: str) -> Any:
    change_set = backend.change_sets.get(name_or_id)
    if change_set is not None:
        return change_set
    named = [c for c in list(backend.change_sets.values()) if c.change_set_name == name_or_id
             and (not stack_name or stack_name in (c.stack_name, c.stack_id))]
    # A stack deleted and created again under its name keeps its old change sets in moto: the one
    # meant is the live stack's (AWS resolves a name within the current stack only).
    live = _live(backend, stack_name) if stack_name else None
    mine = [c for c in named if live is not None and c.stack_id == live.stack_id]
    return (mine or named or [None])[-1]


_STACK_ID = re.compile(r"<StackId>([^<]+)</StackId>")


def _create_stack(ext: Any, environ: dict[str, Any], backend: Any, now: float, delay: float, failure: Any,
                  on_failure: str) -> responses.Response:
    response = responses.call(ext.downstream, environ)
    match = _STACK_ID.search(response[2].decode("utf-8", "replace")) if responses.ok(response) else None
    stack = backend.stacks.get(match.group(1)) if match else None
    if stack is None or stack.status != "CREATE_COMPLETE":
        return response  # an error, or moto's own asynchronous custom resources: leave it be
    if failure is not None:
        ext.count("stack_failed")
    with ext.state.lock:
        _start_create(ext.state, backend, stack, now, delay, failure, on_failure, None)
    ext.state.advance(now)
    return response


def _execute_create(ext: Any, environ: dict[str, Any], backend: Any, change_set: Any, now: float, delay: float,
                    failure: Any, on_failure: str) -> responses.Response:
    response = responses.call(ext.downstream, environ)
    stack = change_set.stack
    if not responses.ok(response) or stack.status != "CREATE_COMPLETE":
        return response
    if failure is not None:
        ext.count("stack_failed")
    with ext.state.lock:
        _start_create(ext.state, backend, stack, now, delay, failure, on_failure, change_set)
    ext.state.advance(now)
    return response


def _start_create(state: State, backend: Any, stack: Any, now: float, delay: float, failure: Any,
                  on_failure: str, change_set: Any) -> None:
    job = StackJob(state, stack, backend, change_set)
    _drop_last_stack_event(stack, "CREATE_COMPLETE")
    _restamp_last_stack_event(stack, "CREATE_IN_PROGRESS", now)
    stack.status = "CREATE_IN_PROGRESS"
    resources = _created(stack)
    for logical_id, physical_id, rtype in resources:
        _event(stack, logical_id, physical_id, rtype, "CREATE_IN_PROGRESS", None, now)
    job.outputs, stack.output_map = stack.output_map, _Outputs()
    if change_set is not None:
        change_set.execution_status = "EXECUTE_IN_PROGRESS"
    state.jobs[stack.stack_id] = job
    if failure is None:
        job.add(now + delay, lambda at: _create_complete(job, resources, at))
        return
    failed = failure.resource if any(r[0] == failure.resource for r in resources) else \
        (resources[-1][0] if resources else None)
    reason = failure.reason or DEFAULT_REASON
    job.add(now + delay, lambda at: _create_failed(job, resources, failed, reason, on_failure, at))
    if on_failure != "DO_NOTHING":
        job.add(now + 2 * delay, lambda at: _rolled_back(job, resources, failed, on_failure, at))


def _create_complete(job: StackJob, resources: list[tuple[str, str, str]], at: float) -> None:
    stack = job.stack
    for logical_id, physical_id, rtype in resources:
        _event(stack, logical_id, physical_id, rtype, "CREATE_COMPLETE", None, at)
    _stack_event(stack, "CREATE_COMPLETE", None, at)
    stack.status = "CREATE_COMPLETE"
    stack.output_map = job.outputs
    if job.change_set is not None:
        job.change_set.execution_status = "EXECUTE_COMPLETE"


def _create_failed(job: StackJob, resources: list[tuple[str, str, str]], failed: str | None, reason: str,
                   on_failure: str, at: float) -> None:
    stack = job.stack
    for logical_id, physical_id, rtype in resources:
        if logical_id == failed:
            _event(stack, logical_id, physical_id, rtype, "CREATE_FAILED", reason, at)
        else:
            _event(stack, logical_id, physical_id, rtype, "CREATE_COMPLETE", None, at)
    summary = f"The following resource(s) failed to create: [{failed or stack.name}]. "
    if on_failure == "DO_NOTHING":
        stack.status, stack.status_reason = "CREATE_FAILED", summary
    else:
        stack.status, stack.status_reason = "ROLLBACK_IN_PROGRESS", summary + "Rollback requested by user."
    _stack_event(stack, stack.status, stack.status_reason, at)
    if job.change_set is not None:
        job.change_set.execution_status = "EXECUTE_FAILED"


def _rolled_back(job: StackJob, resources: list[tuple[str, str, str]], failed: str | None, on_failure: str,
                 at: float) -> None:
    stack, backend = job.stack, job.backend
    try:
        stack.resource_map.delete()
    except Exception:  # noqa: BLE001 - a resource moto cannot delete stays; the stack still rolls back
        log.warning("rollback of %s could not delete every resource", stack.stack_id, exc_info=True)
    # Nothing left to read back: an empty resource map (rebound: the old one shares the template's dict).
    stack.resource_map._resource_json_map = {}
    for name in [n for n, e in backend.exports.items() if e.exporting_stack_id == stack.stack_id]:
        del backend.exports[name]
    job.outputs = None
    for logical_id, physical_id, rtype in reversed(resources):
        if logical_id != failed:
            _event(stack, logical_id, physical_id, rtype, "DELETE_IN_PROGRESS", None, at)
        _event(stack, logical_id, physical_id, rtype, "DELETE_COMPLETE", None, at)
    stack.status, stack.status_reason = "ROLLBACK_COMPLETE", None
    _stack_event(stack, "ROLLBACK_COMPLETE", None, at)
    if on_failure == "DELETE":
        _delete_now(backend, stack, at)


def _update(ext: Any, environ: dict[str, Any], backend: Any, stack: Any, now: float, delay: float,
            change_set: Any) -> responses.Response:
    previous = _Outputs(stack.output_map)
    response = responses.call(ext.downstream, environ)
    if not responses.ok(response) or stack.status != "UPDATE_COMPLETE":
        return response
    state = ext.state
    with state.lock:
        job = StackJob(state, stack, backend, change_set)
        _drop_last_stack_event(stack, "UPDATE_COMPLETE")
        _restamp_last_stack_event(stack, "UPDATE_IN_PROGRESS", now)
        stack.status = "UPDATE_IN_PROGRESS"
        job.outputs, stack.output_map = stack.output_map, previous
        if change_set is not None:
            change_set.execution_status = "EXECUTE_IN_PROGRESS"
        state.jobs[stack.stack_id] = job
        job.add(now + delay, lambda at: _update_complete(job, at))
    state.advance(now)
    return response


def _update_complete(job: StackJob, at: float) -> None:
    stack = job.stack
    _stack_event(stack, "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS", None, at)
    _stack_event(stack, "UPDATE_COMPLETE", None, at)
    stack.status = "UPDATE_COMPLETE"
    stack.output_map = job.outputs
    if job.change_set is not None:
        job.change_set.execution_status = "EXECUTE_COMPLETE"


def _start_delete(state: State, backend: Any, stack: Any, now: float, delay: float) -> None:
    job = StackJob(state, stack, backend)
    stack.status, stack.status_reason = "DELETE_IN_PROGRESS", None
    _stack_event(stack, "DELETE_IN_PROGRESS", "User Initiated", now)
    state.jobs[stack.stack_id] = job
    job.add(now + delay, lambda at: _delete_now(backend, stack, at, announced=True))


def _delete_now(backend: Any, stack: Any, at: float, announced: bool = False) -> None:
    """moto's DeleteStack (resources, exports, DELETE_COMPLETE), its events stamped ``at``."""
    before = len(stack.events)
    try:
        backend.delete_stack(stack.stack_id)
    except Exception as exc:  # noqa: BLE001
        log.warning("deleting %s failed", stack.stack_id, exc_info=True)
        stack.status, stack.status_reason = "DELETE_FAILED", str(exc)
        _stack_event(stack, "DELETE_FAILED", str(exc), at)
        return
    added = stack.events[before:]
    del stack.events[before:]
    for event in added:
        if announced and event.resource_status == "DELETE_IN_PROGRESS" and event.resource_type == STACK_TYPE:
            continue  # already said when DeleteStack was called
        event.timestamp = _naive_utc(at)
        stack.events.append(event)
