"""What every deployment shares: a baseline's stack targets in some accounts, and deploying many at once.

The prod rollout, the canary rollback, the catalog's launch roles and a vended account's setup all
deploy through these two functions. Within an account, baselines go in dependency order: a stack
starts once the stacks it depends on in that account are done, and its parameters that read their
outputs are resolved then; independent stacks (and other accounts) run in parallel, at most
``max_concurrent`` stacks at once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from functools import cache
from pathlib import Path

from fleet import params, stacks
from fleet.paths import inside
from fleet.aws import AwsContext
from fleet.config import Baseline, FleetConfig
from fleet.org import LiveAccount

MANAGED_TAGS = {"fleet:managed-by": "fleet-pipeline"}
# Outputs already known, e.g. of stacks a rollout skipped: (account id, region, baseline) -> outputs.
KnownOutputs = Mapping[tuple[str, str, str], Mapping[str, str]]


def baseline_targets(fleet: FleetConfig, baseline: Baseline, accounts: Sequence[LiveAccount],
                     template_root: Path) -> list[stacks.StackTarget]:
    """One stack target per account and region of ``baseline``, with the parameters its template
    declares resolved for that account. Values reading other baselines' outputs wait in ``waiting``;
    a value the account cannot resolve (a missing tag) is the target's ``problem``."""
    body = inside(template_root, baseline.template).read_text(encoding="utf-8")
    declared, masked = _declared_parameters(body)
    sensitive = frozenset(baseline.sensitive_outputs) | _noecho_outputs(body)
    tags = {**MANAGED_TAGS, "fleet:baseline": baseline.name}
    out = []
    for a in accounts:
        scope = params.account_scope(a.id, a.name, a.ou_path, a.tags)
        problem, resolved, waiting = None, {}, {}
        try:
            resolved, waiting = params.for_account(baseline, scope, a.ou_path)
        except params.ParameterError as exc:
            problem = f"{baseline.name}: {exc}"
        values = {"ManagementAccountId": fleet.organization.management_account, **resolved}
        values = {k: v for k, v in values.items() if k in declared}
        waiting = {k: v for k, v in waiting.items() if k in declared}
        out += [stacks.StackTarget(a.id, a.name, region, baseline.stack_name, body, values, tags,
                                   baseline=baseline.name, depends_on=baseline.depends_on, waiting=waiting,
                                   account=a, problem=problem, masked=tuple(sorted(masked & declared)),
                                   on_removal=baseline.on_removal, sensitive_outputs=sensitive)
                for region in baseline.regions]
    return out


def _declared_parameters(body: str) -> tuple[frozenset[str], frozenset[str]]:
    """(every parameter, the NoEcho ones) the template declares."""
    return _declared(body)


@cache
def _noecho_outputs(body: str) -> frozenset[str]:
    from fleet.templates import load_template

    return noecho_outputs(load_template(body))


@cache
def _declared(body: str) -> tuple[frozenset[str], frozenset[str]]:
    from fleet.templates import load_template  # local: keeps cfn-lint's slow import off every caller's import

    declared = load_template(body).get("Parameters") or {}
    return frozenset(declared), frozenset(k for k, v in declared.items()
                                          if isinstance(v, dict) and str(v.get("NoEcho")).lower() == "true")


def with_outputs(target: stacks.StackTarget, known: KnownOutputs) -> stacks.StackTarget:
    """The target with its waiting parameters resolved from the outputs known in its account and region."""
    if not target.waiting:
        return target
    here = {b: o for (account, region, b), o in known.items()
            if account == target.account_id and region == target.region}
    scope = params.account_scope(target.account_id, target.account_name,
                                 target.account.ou_path if target.account else (),
                                 target.account.tags if target.account else {})
    values = params.with_outputs(target.waiting, scope, here, f"{target.account_name}/{target.region}")
    return dataclasses.replace(target, parameters={**target.parameters, **values}, waiting={})


def not_deployed(t: stacks.StackTarget, kind: str, why: str) -> stacks.DeployResult:
    """A target failed without any call to AWS (its account cannot be resolved, a dependency failed)."""
    return stacks.DeployResult(t.account_id, t.account_name, t.region, t.stack_name, "failed",
                               error=f"{kind}: {why}", stack_status="NOT_DEPLOYED")


def account_problems(targets: Sequence[stacks.StackTarget]) -> dict[str, str]:
    """Account id -> why nothing is deployed there: one of its baselines has a value it cannot resolve."""
    out: dict[str, str] = {}
    for t in targets:
        if t.problem and t.account_id not in out:
            out[t.account_id] = t.problem
    return out


def noecho_outputs(template: dict) -> frozenset[str]:
    """Outputs that hand back a NoEcho parameter (Ref, or inside a Sub or Join): its secret would
    otherwise leave CloudFormation's masking through the stack's outputs."""
    params = template.get("Parameters") or {}
    secret = {name for name, p in params.items() if isinstance(p, dict) and str(p.get("NoEcho")).lower() == "true"}
    if not secret:
        return frozenset()

    def mentions(value) -> bool:
        if isinstance(value, dict):
            if value.get("Ref") in secret:
                return True
            sub = value.get("Fn::Sub")
            text = sub[0] if isinstance(sub, list) and sub else sub
            if isinstance(text, str) and any("${" + n + "}" in text for n in secret):
                return True
            return any(mentions(v) for v in value.values())
        if isinstance(value, list):
            return any(mentions(v) for v in value)
        return False

    outputs = template.get("Outputs") or {}
    return frozenset(name for name, o in outputs.items() if isinstance(o, dict) and mentions(o.get("Value")))


def deploy_all(ctx: AwsContext, targets: Sequence[stacks.StackTarget], digest: str, *,
               max_concurrent: int, deploy: Callable = stacks.deploy,
               known: KnownOutputs | None = None) -> list[stacks.DeployResult]:
    """Deploy every target, at most ``max_concurrent`` at once, each after its dependencies in its
    account; results in target order. An account with an unresolvable value gets no deployment at
    all; a failed stack stops its dependants in that account only."""
    if not targets:
        return []
    results: list[stacks.DeployResult | None] = [None] * len(targets)
    outputs = dict(known or {})
    by_baseline: dict[tuple[str, str], list[int]] = {}
    for i, t in enumerate(targets):
        by_baseline.setdefault((t.account_id, t.baseline), []).append(i)
    deps = {i: [j for b in t.depends_on for j in by_baseline.get((t.account_id, b), ())]
            for i, t in enumerate(targets)}
    blocked = account_problems(targets)
    for i, t in enumerate(targets):
        if t.account_id in blocked:
            results[i] = not_deployed(t, "ParameterError", f"{blocked[t.account_id]} (nothing deployed in this account)")
    pending = [i for i in range(len(targets)) if results[i] is None]
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets)))) as pool:
        running: dict = {}

        def start(i: int) -> None:
            t = targets[i]
            failed = sorted({targets[j].baseline for j in deps[i] if results[j].status == "failed"})
            if failed:
                results[i] = not_deployed(t, "DependencyFailed",
                                          f"{', '.join(failed)} failed in this account; {t.baseline} not deployed")
                return
            try:
                ready = with_outputs(t, outputs)
            except params.ParameterError as exc:
                results[i] = not_deployed(t, "ParameterError", f"{t.baseline}: {exc}")
                return
            running[pool.submit(deploy, ctx, ready, digest)] = i

        while pending or running:
            while ready_now := [i for i in pending if all(results[j] is not None for j in deps[i])]:
                for i in ready_now:  # a dependant failed here may make its own dependants ready: loop
                    pending.remove(i)
                    start(i)
            if not running:
                for i in pending:  # only a dependency cycle gets here, and the loader refuses those
                    results[i] = not_deployed(targets[i], "DependencyCycle", "its dependencies never finished")
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                r = results[i] = future.result()
                t = targets[i]
                if r.status != "failed":
                    outputs[(t.account_id, t.region, t.baseline)] = r.outputs
    return results  # type: ignore[return-value]
