"""Rollout: baseline targets per account, waves with a failure tolerance, parallel deployment.

The rules are the ones users of StackSets and CfCT ask for: a canary wave first, a bounded number of
accounts at once, and a wave whose failures exceed the tolerance stops the rollout before any later
wave is touched. Every account ends with exactly one result, so the report names all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from fleet import stacks
from fleet.aws import AwsContext
from fleet.org import LiveAccount
from fleet.spec import Baseline, Fleet, Wave

MANAGED_TAGS = {"fleet:managed-by": "fleet-pipeline"}


class RolloutError(RuntimeError):
    pass


def plan_waves(accounts: Sequence, waves: Sequence[Wave]) -> list[list]:
    """Split ``accounts`` into waves. ``count`` takes N more; ``percent`` grows coverage to P% of all.

    Percentages are cumulative, as in StackSets' and most canary tools' vocabulary: waves
    [count 1, 25%, 100%] over 8 accounts give 1, 1 and 6 accounts.
    """
    total = len(accounts)
    out, taken = [], 0
    for wave in waves:
        upto = taken + wave.count if wave.count is not None else math.ceil(total * wave.percent / 100)
        upto = min(max(upto, taken), total)
        if upto > taken:
            out.append(list(accounts[taken:upto]))
        taken = upto
    if taken < total:  # the config validator requires a last 100% wave; keep the promise regardless
        out.append(list(accounts[taken:]))
    return out


def baseline_targets(fleet: Fleet, baseline: Baseline, accounts: Sequence[LiveAccount],
                     template_root: Path) -> list[stacks.StackTarget]:
    body = (template_root / baseline.template).read_text(encoding="utf-8")
    params = {"ManagementAccountId": fleet.organization.management_account, **baseline.parameters}
    declared = _declared_parameters(body)
    params = {k: v for k, v in params.items() if k in declared}
    tags = {**MANAGED_TAGS, "fleet:baseline": baseline.name}
    return [stacks.StackTarget(a.id, a.name, region, baseline.stack_name, body, params, tags)
            for a in accounts for region in baseline.regions]


def _declared_parameters(body: str) -> set[str]:
    from fleet.templates import load_template  # local: keeps cfn-lint's import off the DAG parse path

    return set((load_template(body).get("Parameters") or {}).keys())


@dataclass
class WaveResult:
    index: int
    results: list[stacks.DeployResult]
    tolerance: int

    @property
    def failures(self) -> int:
        return sum(r.status == "failed" for r in self.results)

    @property
    def halted(self) -> bool:
        return self.failures > self.tolerance


@dataclass
class RolloutResult:
    waves: list[WaveResult] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # account names of waves never touched

    @property
    def halted(self) -> bool:
        return any(w.halted for w in self.waves)

    def to_dict(self) -> dict:
        return {"halted": self.halted, "not_started": self.not_started,
                "waves": [{"wave": w.index + 1, "failures": w.failures, "tolerance": w.tolerance,
                           "results": [r.to_dict() for r in w.results]} for w in self.waves]}


def deploy_all(ctx: AwsContext, targets: Sequence[stacks.StackTarget], digest: str, *,
               max_concurrent: int, deploy: Callable = stacks.deploy) -> list[stacks.DeployResult]:
    """Deploy every target, at most ``max_concurrent`` at once; results in target order."""
    if not targets:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(max_concurrent, len(targets)))) as pool:
        return list(pool.map(lambda t: deploy(ctx, t, digest), targets))


def run_waves(ctx: AwsContext, waves: Sequence[Sequence[stacks.StackTarget]], digest: str, *,
              max_concurrent: int, failure_tolerance: int,
              deploy: Callable = stacks.deploy, on_wave: Callable[[WaveResult], None] | None = None
              ) -> RolloutResult:
    result = RolloutResult()
    for i, wave in enumerate(waves):
        wave_result = WaveResult(i, deploy_all(ctx, wave, digest, max_concurrent=max_concurrent,
                                               deploy=deploy), failure_tolerance)
        result.waves.append(wave_result)
        if on_wave:
            on_wave(wave_result)
        if wave_result.halted:
            result.not_started = [t.account_name for later in waves[i + 1:] for t in later]
            break
    return result
