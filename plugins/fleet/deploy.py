"""What every deployment shares: a baseline's stack targets in some accounts, and deploying many at once.

The prod rollout, the canary rollback, the catalog's launch roles and a vended account's setup all
deploy through these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleet.paths import inside
from fleet import stacks
from fleet.aws import AwsContext
from fleet.config import Baseline, FleetConfig
from fleet.org import LiveAccount

MANAGED_TAGS = {"fleet:managed-by": "fleet-pipeline"}


def baseline_targets(fleet: FleetConfig, baseline: Baseline, accounts: Sequence[LiveAccount],
                     template_root: Path) -> list[stacks.StackTarget]:
    """One stack target per account and region of ``baseline``, with the parameters its template declares."""
    body = inside(template_root, baseline.template).read_text(encoding="utf-8")
    params = {"ManagementAccountId": fleet.organization.management_account, **baseline.parameters}
    template = _template(body)
    declared = set((template.get("Parameters") or {}).keys())
    params = {k: v for k, v in params.items() if k in declared}
    tags = {**MANAGED_TAGS, "fleet:baseline": baseline.name}
    sensitive = frozenset(baseline.sensitive_outputs) | noecho_outputs(template)
    return [stacks.StackTarget(a.id, a.name, region, baseline.stack_name, body, params, tags,
                               sensitive_outputs=sensitive)
            for a in accounts for region in baseline.regions]


def _template(body: str) -> dict:
    from fleet.templates import load_template  # local: keeps cfn-lint's slow import off every caller's import

    return load_template(body)


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
               max_concurrent: int, deploy: Callable = stacks.deploy) -> list[stacks.DeployResult]:
    """Deploy every target, at most ``max_concurrent`` at once; results in target order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets)))) as pool:
        return list(pool.map(lambda t: deploy(ctx, t, digest), targets))
