"""Per-account baseline parameters: Jinja2 expressions over the account and other baselines' outputs.

A value such as ``"{{ account.tags.cidr }}"`` or ``"{{ outputs.network.VpcId }}"`` is rendered by
Jinja2's immutable sandbox with StrictUndefined: no Python is ever run from the fleet repo, and a
name that is not there is an error, never an empty string. Values are resolved in two steps,
because outputs exist only once the baseline that makes them is deployed in that account: first
what the account alone decides (``for_account``), then, right before the stack is deployed, the
values that read outputs (``with_outputs``). Each step names the parameter and what was missing.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache

from jinja2 import StrictUndefined, TemplateError, nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from fleet.config.model import Baseline

ACCOUNT_FIELDS = ("id", "name", "ou", "tags")
ROOTS = ("account", "outputs")


class ParameterError(ValueError):
    """A value that cannot be resolved for one account; the message is the reason shown in the plan."""


@cache
def _env() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False)


def is_template(value: str) -> bool:
    return "{{" in value or "{%" in value or "{#" in value


def references(value: str) -> list[tuple[str, ...]]:
    """Every name path the value reads, e.g. ("account", "tags", "cidr"), ("outputs", "network", "VpcId").

    Raises jinja2.TemplateSyntaxError for a value that is not a valid expression."""
    if not is_template(value):
        return []
    out: list[tuple[str, ...]] = []
    _chains(_env().parse(value), out)
    return out


def _chains(node: nodes.Node, out: list[tuple[str, ...]]) -> None:
    chain = _chain(node)
    if chain is not None:
        out.append(chain)
        return
    for child in node.iter_child_nodes():
        _chains(child, out)


def _chain(node: nodes.Node) -> tuple[str, ...] | None:
    parts: list[str] = []
    while True:
        if isinstance(node, nodes.Getattr):
            parts.append(node.attr)
            node = node.node
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const) \
                and isinstance(node.arg.value, str):
            parts.append(node.arg.value)
            node = node.node
        elif isinstance(node, nodes.Name):
            parts.append(node.name)
            return tuple(reversed(parts))
        else:
            return None


def reference_problem(ref: tuple[str, ...]) -> str | None:
    """What is wrong with a reference's shape (any account, any fleet), or None."""
    root = ref[0]
    if root not in ROOTS:
        return f"only account.* and outputs.<baseline>.<OutputKey> may be used, got {'.'.join(ref)!r}"
    if root == "account":
        if len(ref) < 2 or ref[1] not in ACCOUNT_FIELDS:
            return f"account.id, account.name, account.ou or account.tags.<key>, got {'.'.join(ref)!r}"
        if ref[1] == "tags" and len(ref) < 3:
            return f"account.tags.<key> (one tag), got {'.'.join(ref)!r}"
    if root == "outputs" and len(ref) < 3:
        return f"outputs.<baseline>.<OutputKey>, got {'.'.join(ref)!r}"
    return None


def output_refs(value: str) -> list[tuple[str, str]]:
    """(baseline, output key) pairs a value reads."""
    return [(r[1], r[2]) for r in references(value) if r[0] == "outputs" and len(r) >= 3]


def raw_parameters(baseline: Baseline, account_name: str, ou_path: tuple[str, ...]) -> dict[str, str]:
    """The baseline's parameter values with the overrides that apply to this account laid over them:
    OU overrides from the outermost OU to the account's own, then account overrides (most specific wins)."""
    values = dict(baseline.parameters)
    depth = {ou: i for i, ou in enumerate(ou_path)}
    by_ou = sorted(((max(depth[ou] for ou in o.ous if ou in depth), n, o) for n, o in enumerate(baseline.overrides)
                    if any(ou in depth for ou in o.ous)), key=lambda x: (x[0], x[1]))
    for _, _, override in by_ou:
        values.update(override.parameters)
    for override in baseline.overrides:
        if account_name in override.accounts:
            values.update(override.parameters)
    return values


def account_scope(account_id: str, name: str, ou_path: tuple[str, ...], tags: Mapping[str, str]) -> dict:
    return {"id": account_id, "name": name, "ou": ou_path[-1] if ou_path else "", "tags": dict(tags)}


def for_account(baseline: Baseline, scope: dict, ou_path: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """(resolved, waiting): values the account decides, rendered; values that read outputs, as written.

    Raises ParameterError naming the parameter and what is missing (a tag the account does not carry)."""
    resolved, waiting = {}, {}
    for key, value in raw_parameters(baseline, scope["name"], ou_path).items():
        if output_refs(value):
            _check_account_refs(key, value, scope)  # a missing tag is known now, not after the dependency
            waiting[key] = value
        else:
            resolved[key] = render(key, value, scope, {})
    return resolved, waiting


def with_outputs(waiting: Mapping[str, str], scope: dict, outputs: Mapping[str, Mapping[str, str]],
                 where: str) -> dict[str, str]:
    """Render the values that read outputs; ``outputs`` is baseline -> that stack's outputs in this
    account and region (a baseline missing from it is not deployed there). ``where`` names the place."""
    out = {}
    for key, value in waiting.items():
        for baseline, output in output_refs(value):
            if baseline not in outputs:
                raise ParameterError(f"parameter {key}: outputs.{baseline}.{output}: baseline {baseline} is not "
                                     f"deployed in {where}")
            if output not in outputs[baseline]:
                raise ParameterError(f"parameter {key}: outputs.{baseline}.{output}: stack fleet-{baseline} in "
                                     f"{where} has no output {output!r} (it has {sorted(outputs[baseline])})")
        out[key] = render(key, value, scope, outputs)
    return out


def _check_account_refs(key: str, value: str, scope: dict) -> None:
    for ref in references(value):
        if ref[0] == "account" and len(ref) >= 3 and ref[1] == "tags" and ref[2] not in scope["tags"]:
            raise ParameterError(f"parameter {key}: account.tags.{ref[2]}: account {scope['name']} has no tag "
                                 f"{ref[2]!r}")


def render(key: str, value: str, scope: dict, outputs: Mapping[str, Mapping[str, str]]) -> str:
    if not is_template(value):
        return value
    _check_account_refs(key, value, scope)
    try:
        return _env().from_string(value).render(account=scope, outputs={k: dict(v) for k, v in outputs.items()})
    except TemplateError as exc:  # StrictUndefined: something named is not there
        raise ParameterError(f"parameter {key}: {value!r} cannot be resolved for account {scope['name']}: "
                             f"{exc.message or exc}") from None
