"""What every deployment shares: a baseline's stack targets in some accounts, and deploying many at once.

The prod rollout, the canary rollback, the catalog's launch roles and a vended account's setup all
deploy through these two functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fleet import stacks
from fleet.aws import AwsContext
from fleet.config import Baseline, FleetConfig
from fleet.org import LiveAccount

MANAGED_TAGS = {"fleet:managed-by": "fleet-pipeline"}


def baseline_targets(fleet: FleetConfig, baseline: Baseline, accounts: Sequence[LiveAccount],
                     template_root: Path) -> list[stacks.StackTarget]:
    """One stack target per account and region of ``baseline``, with the parameters its template declares."""
    body = (template_root / baseline.template).read_text(encoding="utf-8")
    params = {"ManagementAccountId": fleet.organization.management_account, **baseline.parameters}
    template = _template(body)
    declared = set((template.get("Parameters") or {}).keys())
    params = {k: v for k, v in params.items() if k in declared}
    tags = {**MANAGED_TAGS, "fleet:baseline": baseline.name}
    masked = frozenset(baseline.sensitive_outputs) | noecho_outputs(template)
    return [stacks.StackTarget(a.id, a.name, region, baseline.stack_name, body, params, tags, masked_outputs=masked)
            for a in accounts for region in baseline.regions]


def _template(body: str) -> dict:
    from fleet.templates import load_template  # local: keeps cfn-lint's slow import off every caller's import

    return load_template(body)


def noecho_outputs(template: dict) -> frozenset[str]:
    """Outputs whose value refers to a NoEcho parameter (Ref, or ${Name} in a Sub): CloudFormation
    hides the parameter, and an output mirroring it would publish it again."""
    secret = {name for name, p in (template.get("Parameters") or {}).items()
              if isinstance(p, dict) and str(p.get("NoEcho", "")).lower() == "true"}

    def mentions(node) -> bool:
        if isinstance(node, dict):
            if node.get("Ref") in secret:
                return True
            sub = node.get("Fn::Sub")
            text = sub[0] if isinstance(sub, list) and sub else sub
            if isinstance(text, str) and any(f"${{{name}}}" in text for name in secret):
                return True
            return any(mentions(v) for v in node.values())
        if isinstance(node, list):
            return any(mentions(v) for v in node)
        return False

    outputs = template.get("Outputs") or {}
    return frozenset(name for name, out in outputs.items() if secret and isinstance(out, dict)
                     and mentions(out.get("Value")))


def deploy_all(ctx: AwsContext, targets: Sequence[stacks.StackTarget], digest: str, *,
               max_concurrent: int, deploy: Callable = stacks.deploy) -> list[stacks.DeployResult]:
    """Deploy every target, at most ``max_concurrent`` at once; results in target order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets)))) as pool:
        return list(pool.map(lambda t: deploy(ctx, t, digest), targets))
