"""Deploy one CloudFormation stack in one account and region, always through a change set.

A change set is the plan: the same call that previews a deployment performs it, so what was
approved is what runs. Change sets are named after the bundle digest, which makes a retried or
resumed task find its own earlier work instead of starting another deployment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from fleet.aws import AwsContext, error_code

MAX_TEMPLATE_BODY = 51_200
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
COMPLETE = {"CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE"}
FAILED = {"CREATE_FAILED", "ROLLBACK_COMPLETE", "ROLLBACK_FAILED", "UPDATE_ROLLBACK_COMPLETE",
          "UPDATE_ROLLBACK_FAILED", "UPDATE_FAILED", "DELETE_FAILED", "DELETE_COMPLETE",
          "IMPORT_ROLLBACK_COMPLETE", "IMPORT_ROLLBACK_FAILED"}
CAPABILITIES = ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"]


class StackError(RuntimeError):
    pass


@dataclass(frozen=True)
class StackTarget:
    account_id: str
    account_name: str
    region: str
    stack_name: str
    template_body: str
    parameters: dict[str, str] = field(default_factory=dict, hash=False)
    tags: dict[str, str] = field(default_factory=dict, hash=False)
    template_url: str | None = None  # used instead of the body when the body is too large
    # Per-baseline deployment (fleet.deploy): the baseline, what it waits for in the same account,
    # parameters still waiting for those outputs, the account they are resolved for, a reason the
    # account cannot be deployed (an unresolvable value), and the parameters shown masked (NoEcho).
    baseline: str = ""
    depends_on: tuple[str, ...] = ()
    waiting: dict[str, str] = field(default_factory=dict, hash=False)
    account: Any = field(default=None, hash=False, compare=False)
    problem: str | None = None
    masked: tuple[str, ...] = ()
    on_removal: str = "delete"
    # Output names whose values are secret (the config's sensitive_outputs, NoEcho mirrors): masked.
    sensitive_outputs: frozenset[str] = field(default_factory=frozenset, hash=False)


@dataclass
class ChangeSetPlan:
    """What a change set would do; ``changes`` is empty when the stack is already up to date."""

    target: StackTarget
    change_set_name: str
    change_set_type: str  # CREATE | UPDATE
    status: str  # ready | no-changes | failed
    changes: list[dict] = field(default_factory=list)
    reason: str | None = None


@dataclass
class DeployResult:
    account_id: str
    account_name: str
    region: str
    stack_name: str
    status: str  # created | updated | unchanged | failed | in-progress
    changes: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    stack_status: str | None = None
    seconds: float = 0.0
    # The task try of the run that deployed it, when the rollout knows its tries (a retry reports the
    # accounts an earlier try deployed as deployed by that try, not as skipped or unchanged).
    try_number: int | None = None
    sensitive: list[str] = field(default_factory=list)  # output names masked in ``outputs`` (kept masked)

    def to_dict(self) -> dict:
        return asdict(self)


def change_set_name(digest: str, attempt: int = 0) -> str:
    return f"fleet-{digest[:16]}" + (f"-{attempt}" if attempt else "")


def describe_stack(ctx: AwsContext, target: StackTarget) -> dict | None:
    cfn = ctx.client("cloudformation", target.account_id, target.region)
    try:
        return cfn.describe_stacks(StackName=target.stack_name)["Stacks"][0]
    except Exception as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            return None
        raise


def plan(ctx: AwsContext, target: StackTarget, digest: str) -> ChangeSetPlan:
    """Create (or find) the change set for this digest and describe it, without executing it."""
    cfn = ctx.client("cloudformation", target.account_id, target.region)
    stack = describe_stack(ctx, target)
    if stack and stack["StackStatus"] == "ROLLBACK_COMPLETE":
        # A stack that failed its creation cannot be updated; AWS requires deleting it first.
        cfn.delete_stack(StackName=target.stack_name)
        _wait_gone(ctx, target)
        stack = None
    cs_type = "UPDATE" if stack and stack["StackStatus"] != "REVIEW_IN_PROGRESS" else "CREATE"
    name, existing = _change_set_slot(cfn, target.stack_name, digest, target.parameters) if stack else (
        change_set_name(digest), None)
    if existing is None:
        body = {"TemplateURL": target.template_url} if target.template_url else {
            "TemplateBody": target.template_body}
        try:
            cfn.create_change_set(
                StackName=target.stack_name, ChangeSetName=name, ChangeSetType=cs_type,
                Capabilities=CAPABILITIES, Description=f"fleet-pipeline bundle {digest[:16]}",
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in target.parameters.items()],
                Tags=[{"Key": k, "Value": v} for k, v in target.tags.items()], **body)
        except Exception as exc:
            if error_code(exc) == "AlreadyExistsException":
                pass  # a concurrent attempt made it; describe it below
            elif _no_changes(str(exc)):
                return ChangeSetPlan(target, name, cs_type, "no-changes")
            else:
                return ChangeSetPlan(target, name, cs_type, "failed", reason=_reason(exc))
    described = _wait_change_set(cfn, target.stack_name, name)
    if described["Status"] == "FAILED":
        if _no_changes(described.get("StatusReason")):
            return ChangeSetPlan(target, name, cs_type, "no-changes")
        return ChangeSetPlan(target, name, cs_type, "failed", reason=described.get("StatusReason"))
    return ChangeSetPlan(target, name, cs_type, "ready", _summarise(described.get("Changes", [])))


def execute(ctx: AwsContext, change: ChangeSetPlan) -> None:
    if change.status != "ready":
        return
    t = change.target
    try:
        ctx.client("cloudformation", t.account_id, t.region).execute_change_set(
            StackName=t.stack_name, ChangeSetName=change.change_set_name)
    except Exception as exc:
        if error_code(exc) != "InvalidChangeSetStatus":  # an earlier attempt is executing it already
            raise


def result_of(ctx: AwsContext, change: ChangeSetPlan, started: float) -> DeployResult:
    """The deployment's outcome as the stack shows it now (``in-progress`` while it still runs)."""
    t = change.target
    if change.status == "failed":
        return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "failed",
                            len(change.changes), error=change.reason, seconds=time.time() - started)
    unchanged = change.status == "no-changes"
    return _read_outcome(ctx, t, change.change_set_type, unchanged, len(change.changes), time.time() - started)


def refresh(ctx: AwsContext, result: DeployResult) -> DeployResult:
    """Re-read a deployment that was still running when it was last looked at."""
    if result.status != "in-progress":
        return result
    kind = "CREATE" if result.stack_status in {"CREATE_IN_PROGRESS", "REVIEW_IN_PROGRESS"} else "UPDATE"
    target = StackTarget(result.account_id, result.account_name, result.region, result.stack_name, "",
                         sensitive_outputs=frozenset(result.sensitive))
    return _read_outcome(ctx, target, kind, False, result.changes, result.seconds)


def _read_outcome(ctx: AwsContext, t: StackTarget, kind: str, unchanged: bool, changes: int,
                  seconds: float) -> DeployResult:
    stack = describe_stack(ctx, t)
    status = stack["StackStatus"] if stack else "DOES_NOT_EXIST"
    r = DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "in-progress", changes,
                     stack_status=status, seconds=seconds, sensitive=sorted(t.sensitive_outputs))
    if status.endswith("_IN_PROGRESS"):
        return r
    if status in COMPLETE:
        r.status = "unchanged" if unchanged else ("created" if kind == "CREATE" else "updated")
        r.outputs = mask_outputs({o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])},
                                 t.sensitive_outputs)
        return r
    r.status = "failed"
    if not stack:
        r.error = "the stack does not exist"
        return r
    cause = _failed_resource(ctx, t)
    r.error = f"{status}: {cause}" if cause else (stack.get("StackStatusReason") or status)
    return r


MASK = "****"  # what CloudFormation itself shows for a NoEcho parameter


def mask_outputs(outputs: dict[str, str], sensitive) -> dict[str, str]:
    return {k: (MASK if k in sensitive else v) for k, v in outputs.items()}


def _failed_resource(ctx: AwsContext, t: StackTarget) -> str | None:
    """The first resource failure of the latest operation: what really went wrong, where the stack's
    own reason after a rollback only says that one was requested."""
    cfn = ctx.client("cloudformation", t.account_id, t.region)
    try:
        events = cfn.describe_stack_events(StackName=t.stack_name)["StackEvents"]  # newest first
    except Exception:  # the reason is a courtesy: never let it hide the failure itself
        return None
    failed = None
    for e in events:
        if e.get("ResourceType") == "AWS::CloudFormation::Stack" and e.get("ResourceStatus") in (
                "CREATE_IN_PROGRESS", "UPDATE_IN_PROGRESS"):
            break  # the start of the latest operation
        if e.get("ResourceStatus", "").endswith("_FAILED") and e.get("ResourceType") != "AWS::CloudFormation::Stack":
            failed = e  # keep going back: the earliest failure is the cause, later ones are knock-ons
    if failed is None:
        return None
    return f"{failed['LogicalResourceId']} ({failed['ResourceType']}) {failed['ResourceStatus']}: " \
           f"{failed.get('ResourceStatusReason', '')}".strip()


def deploy(ctx: AwsContext, target: StackTarget, digest: str, *, wait: bool = True,
           timeout: float = 3600, poll: float = 5.0,
           sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.time,
           differs: Callable[[ChangeSetPlan], str | None] | None = None) -> DeployResult:
    """Plan, execute and (with ``wait``) wait for one stack; never raises for an AWS-side failure.

    ``differs`` (the approved plan's check) says why a change set must not run; it is then left
    unexecuted and the result is a failure with that reason."""
    started = clock()
    try:
        change = plan(ctx, target, digest)
        why = differs(change) if differs is not None else None
        if why:
            _discard(ctx, change)
            return DeployResult(target.account_id, target.account_name, target.region, target.stack_name, "failed",
                                len(change.changes), error=f"change set {change.change_set_name} differs from the "
                                f"approved plan ({why}); not executed", seconds=clock() - started)
        execute(ctx, change)
        result = result_of(ctx, change, started)
        while wait and result.status == "in-progress":
            if clock() - started > timeout:
                result.status, result.error = "failed", f"timed out after {timeout:.0f}s in {result.stack_status}"
                break
            sleep(poll)
            result = result_of(ctx, change, started)
        return result
    except Exception as exc:  # an account's failure is a result, so one bad account cannot stop a wave
        return DeployResult(target.account_id, target.account_name, target.region, target.stack_name,
                            "failed", error=_reason(exc), seconds=clock() - started)


def _discard(ctx: AwsContext, change: ChangeSetPlan) -> None:
    """Delete a change set that must not run (and the empty stack a refused CREATE left in review),
    so nobody can execute it later by hand and the next deployment starts clean."""
    t = change.target
    cfn = ctx.client("cloudformation", t.account_id, t.region)
    try:
        cfn.delete_change_set(StackName=t.stack_name, ChangeSetName=change.change_set_name)
        stack = describe_stack(ctx, t)
        if change.change_set_type == "CREATE" and stack and stack["StackStatus"] == "REVIEW_IN_PROGRESS":
            cfn.delete_stack(StackName=t.stack_name)
            _wait_gone(ctx, t, timeout=120)
    except Exception:  # noqa: BLE001 - the refusal stands whether or not the clean-up worked
        pass


def _change_set_slot(cfn, stack: str, digest: str, parameters: dict[str, str] | None = None
                     ) -> tuple[str, dict | None]:
    """The change set name to use for ``digest`` and the reusable change set already under it.

    A change set not yet executed is reused (the plan made it; a retried task finds it) unless its
    parameters differ from ``parameters`` (a dependency's output or an account tag changed since
    the plan): then it is made again. An executed one is history (AWS deletes it; moto keeps it),
    so the next name is taken. A failed one is deleted and made again: its verdict ("no changes")
    may be stale.
    """
    for attempt in range(100):
        name = change_set_name(digest, attempt)
        existing = _describe_change_set(cfn, stack, name)
        if existing is None:
            return name, None
        if existing.get("ExecutionStatus") in {"EXECUTE_COMPLETE", "EXECUTE_FAILED", "OBSOLETE"}:
            continue
        if existing["Status"] == "FAILED" or not _same_parameters(existing, parameters):
            cfn.delete_change_set(StackName=stack, ChangeSetName=name)
            return name, None
        return name, existing
    raise StackError(f"{stack}: 100 change sets for bundle {digest[:16]} already; delete old ones")


def _same_parameters(change_set: dict, parameters: dict[str, str] | None) -> bool:
    if parameters is None:
        return True
    given = {p["ParameterKey"]: p.get("ParameterValue") for p in change_set.get("Parameters") or []}
    # NoEcho values come back as ****: they cannot be compared, so they do not count as a difference.
    return all(given.get(k) in (v, "****") for k, v in parameters.items())


def stack_parameters_match(stack: dict, parameters: dict[str, str]) -> bool:
    """The stack runs with these parameter values (NoEcho values, shown as ****, are not compared)."""
    return _same_parameters(stack, parameters)


def delete(ctx: AwsContext, target: StackTarget, *, timeout: float = 3600) -> DeployResult:
    """Delete one stack and wait until it is gone; never raises for an AWS-side failure."""
    started = time.time()
    t = target
    try:
        stack = describe_stack(ctx, t)
        if stack is None:
            return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "deleted",
                                stack_status="DOES_NOT_EXIST", seconds=time.time() - started)
        ctx.client("cloudformation", t.account_id, t.region).delete_stack(StackName=t.stack_name)
        _wait_gone(ctx, t, timeout=timeout)
        return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "deleted",
                            stack_status="DELETE_COMPLETE", seconds=time.time() - started)
    except Exception as exc:  # noqa: BLE001 - one stack that cannot be deleted must not stop the others
        cause = _failed_resource(ctx, t)
        return DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "failed",
                            error=f"{_reason(exc)}" + (f" ({cause})" if cause else ""),
                            seconds=time.time() - started)


def _describe_change_set(cfn, stack: str, name: str) -> dict | None:
    try:
        return cfn.describe_change_set(StackName=stack, ChangeSetName=name)
    except Exception as exc:
        if error_code(exc) in {"ChangeSetNotFound", "ChangeSetNotFoundException", "ValidationError"}:
            return None
        raise


def _wait_change_set(cfn, stack: str, name: str, timeout: float = 600, poll: float = 2.0) -> dict:
    deadline = time.time() + timeout
    while True:
        described = cfn.describe_change_set(StackName=stack, ChangeSetName=name)
        if described["Status"] in {"CREATE_COMPLETE", "FAILED"}:
            return described
        if time.time() > deadline:
            raise StackError(f"change set {name} on {stack} still {described['Status']} after {timeout:.0f}s")
        time.sleep(poll)


def _wait_gone(ctx: AwsContext, target: StackTarget, timeout: float = 900, poll: float = 3.0) -> None:
    deadline = time.time() + timeout
    while (stack := describe_stack(ctx, target)) and stack["StackStatus"] != "DELETE_COMPLETE":
        if stack["StackStatus"] == "DELETE_FAILED":
            raise StackError(f"{target.stack_name} in {target.account_id}: DELETE_FAILED: "
                             f"{stack.get('StackStatusReason') or 'see its events'}")
        if time.time() > deadline:
            raise StackError(f"{target.stack_name} in {target.account_id}: not deleted after {timeout:.0f}s")
        time.sleep(poll)


def _summarise(changes: list[dict]) -> list[dict]:
    out = []
    for c in changes:
        rc = c.get("ResourceChange", {})
        out.append({"action": rc.get("Action"), "logical_id": rc.get("LogicalResourceId"),
                    "type": rc.get("ResourceType"), "replacement": rc.get("Replacement")})
    return out


def _no_changes(reason: str | None) -> bool:
    return bool(reason) and any(marker in reason for marker in NO_CHANGES)


def _reason(exc: BaseException) -> str:
    code = error_code(exc)
    text = str(exc)
    return f"{code}: {text}" if code and code not in text else text
