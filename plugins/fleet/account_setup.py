"""Make a ready account a fleet member: its OU, tags, SCPs, guardrail services and baseline stacks.

Every step reads first and changes only what differs, and AWS's "already enabled" answers count as
success, so setting up an account twice (a retried task, a rerun DAG) changes nothing the second
time. Each step reports ``done`` (changed something) or ``already`` (nothing to do).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

from fleet.paths import PathEscape, inside
from fleet import stacks
from fleet.aws import AwsContext, error_code
from fleet.config import FleetConfig
from fleet.deploy import baseline_targets, deploy_all
from fleet.org import LiveAccount

SCP = "SERVICE_CONTROL_POLICY"


class SetupError(RuntimeError):
    pass


@dataclass
class Step:
    step: str
    status: str  # done | already | failed
    detail: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def _all(client, operation: str, key: str, **kwargs) -> list[dict]:
    return [item for page in client.get_paginator(operation).paginate(**kwargs) for item in page[key]]


def find_ou_id(ctx: AwsContext, name: str) -> str:
    """The id of the OU called ``name`` (config OU names are unique across the tree)."""
    org = ctx.client("organizations")
    pending = [org.list_roots()["Roots"][0]["Id"]]
    found = []
    while pending:
        parent = pending.pop()
        for ou in _all(org, "list_organizational_units_for_parent", "OrganizationalUnits", ParentId=parent):
            if ou["Name"] == name:
                found.append(ou["Id"])
            pending.append(ou["Id"])
    if len(found) != 1:
        raise SetupError(f"OU {name!r} found {len(found)} times in the organization (expected once): "
                         "create the OU tree from the fleet config first")
    return found[0]


def place(ctx: AwsContext, account_id: str, ou: str) -> Step:
    org = ctx.client("organizations")
    target = find_ou_id(ctx, ou)
    parent = org.list_parents(ChildId=account_id)["Parents"][0]["Id"]
    if parent == target:
        return Step("ou", "already", ou)
    try:
        org.move_account(AccountId=account_id, SourceParentId=parent, DestinationParentId=target)
    except Exception as exc:
        if error_code(exc) != "DuplicateAccountException":  # moved meanwhile by a concurrent try
            raise
        return Step("ou", "already", ou)
    return Step("ou", "done", f"moved to {ou}")


def tag(ctx: AwsContext, account_id: str, tags: dict[str, str]) -> Step:
    org = ctx.client("organizations")
    current = {t["Key"]: t["Value"] for t in _all(org, "list_tags_for_resource", "Tags", ResourceId=account_id)}
    missing = {k: str(v) for k, v in tags.items() if current.get(k) != str(v)}
    if not missing:
        return Step("tags", "already", ", ".join(sorted(tags)))
    org.tag_resource(ResourceId=account_id, Tags=[{"Key": k, "Value": v} for k, v in missing.items()])
    return Step("tags", "done", ", ".join(sorted(missing)))


def _ensure_policy(org, root: Path, rel: str) -> str:
    """The SCP's id, created from the fleet repo's JSON (named after the file) when missing."""
    try:
        path = inside(root, rel)
    except PathEscape as exc:
        raise SetupError(f"guardrails.scps: {exc}") from None
    name = path.stem
    found = [p for p in _all(org, "list_policies", "Policies", Filter=SCP) if p["Name"] == name]
    if found:
        return found[0]["Id"]
    try:
        content = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise SetupError(f"guardrails.scps: cannot read {path}: {exc.strerror}") from exc
    try:
        return org.create_policy(Name=name, Type=SCP, Content=content,
                                 Description=f"fleet guardrail from {rel}")["Policy"]["PolicySummary"]["Id"]
    except Exception as exc:
        if error_code(exc) != "DuplicatePolicyException":
            raise
        return [p for p in _all(org, "list_policies", "Policies", Filter=SCP) if p["Name"] == name][0]["Id"]


def attach_scps(ctx: AwsContext, account_id: str, root: Path, scps: tuple[str, ...]) -> Step:
    if not scps:
        return Step("scps", "already", "none configured")
    org = ctx.client("organizations")
    attached = {p["Id"] for p in _all(org, "list_policies_for_target", "Policies", TargetId=account_id, Filter=SCP)}
    added = []
    for rel in scps:
        policy_id = _ensure_policy(org, root, rel)
        if policy_id in attached:
            continue
        try:
            org.attach_policy(PolicyId=policy_id, TargetId=account_id)
            added.append(Path(rel).stem)
        except Exception as exc:
            if error_code(exc) != "DuplicatePolicyAttachmentException":
                raise
    return Step("scps", "done" if added else "already", ", ".join(added or [Path(r).stem for r in scps]))


# -- guardrail services, in each region --------------------------------------------------------------

def enable_guardduty(ctx: AwsContext, account_id: str, region: str) -> Step:
    gd = ctx.client("guardduty", account_id, region)
    detectors = _all(gd, "list_detectors", "DetectorIds")
    if detectors:
        if gd.get_detector(DetectorId=detectors[0]).get("Status") == "ENABLED":
            return Step(f"guardduty:{region}", "already", detectors[0])
        gd.update_detector(DetectorId=detectors[0], Enable=True)
        return Step(f"guardduty:{region}", "done", f"re-enabled {detectors[0]}")
    try:
        detector = gd.create_detector(Enable=True)["DetectorId"]
    except Exception as exc:
        # "a detector already exists for the current account": created by a concurrent try
        if error_code(exc) == "BadRequestException" and "already exists" in str(exc):
            return Step(f"guardduty:{region}", "already", "detector exists")
        raise
    return Step(f"guardduty:{region}", "done", detector)


def standard_arn(ctx: AwsContext, region: str, standard: str) -> str:
    if standard.startswith("arn:"):
        return standard
    # CIS 1.2.0 predates regional standards and keeps its global "ruleset" ARN.
    if standard == "cis-aws-foundations-benchmark/v/1.2.0":
        return f"arn:{ctx.partition}:securityhub:::ruleset/{standard}"
    return f"arn:{ctx.partition}:securityhub:{region}::standards/{standard}"


def enable_securityhub(ctx: AwsContext, account_id: str, region: str, standards: tuple[str, ...]) -> Step:
    sh = ctx.client("securityhub", account_id, region)
    name = f"securityhub:{region}"
    changed = []
    try:
        # Default standards off: the config says which standards, not the service's defaults.
        sh.enable_security_hub(EnableDefaultStandards=False)
        changed.append("enabled")
    except Exception as exc:
        if error_code(exc) != "ResourceConflictException":  # "already subscribed to Security Hub"
            raise
    enabled = {s["StandardsArn"] for s in _all(sh, "get_enabled_standards", "StandardsSubscriptions")}
    wanted = [standard_arn(ctx, region, s) for s in standards]
    missing = [arn for arn in wanted if arn not in enabled]
    if missing:
        sh.batch_enable_standards(StandardsSubscriptionRequests=[{"StandardsArn": arn} for arn in missing])
        changed.append(f"{len(missing)} standard(s)")
    return Step(name, "done" if changed else "already", ", ".join(changed) or f"{len(wanted)} standard(s)")


def enable_macie(ctx: AwsContext, account_id: str, region: str) -> Step:
    macie = ctx.client("macie2", account_id, region)
    name = f"macie:{region}"
    try:
        status = macie.get_macie_session().get("status")
    except Exception as exc:
        if error_code(exc) != "AccessDeniedException":  # "Macie is not enabled"
            raise
        status = None
    if status == "ENABLED":
        return Step(name, "already")
    if status == "PAUSED":
        macie.update_macie_session(status="ENABLED")
        return Step(name, "done", "resumed")
    try:
        macie.enable_macie(status="ENABLED")
    except Exception as exc:
        if error_code(exc) != "ConflictException":  # enabled meanwhile by a concurrent try
            raise
        return Step(name, "already")
    return Step(name, "done")


def enable_services(ctx: AwsContext, fleet: FleetConfig, account_id: str) -> list[Step]:
    steps = []
    for region in fleet.organization.regions:
        for service in fleet.guardrails.services:
            if service == "guardduty":
                steps.append(enable_guardduty(ctx, account_id, region))
            elif service == "securityhub":
                steps.append(enable_securityhub(ctx, account_id, region, fleet.guardrails.securityhub_standards))
            elif service == "macie":
                steps.append(enable_macie(ctx, account_id, region))
    return steps


def deploy_baselines(ctx: AwsContext, fleet: FleetConfig, account: LiveAccount) -> list[Step]:
    """The baselines this account gets, as the pipeline would deploy them, in dependency order with
    its own parameters: those whose targets include it (a baseline without targets: the prod
    targets), or every baseline for a beta or gamma account."""
    targets = [t for b in fleet.deployment_order() if _targets_account(fleet, b, account)
               for t in baseline_targets(fleet, b, [account], fleet.root)]

    def deploy(c: AwsContext, target: stacks.StackTarget, _digest: str) -> stacks.DeployResult:
        # The digest of what this stack gets (parameters resolved), so a repeat finds it unchanged.
        digest = hashlib.sha256(json.dumps([target.template_body, target.parameters, target.tags],
                                           sort_keys=True).encode()).hexdigest()
        return stacks.deploy(c, target, digest)

    steps = []
    for target, result in zip(targets, deploy_all(ctx, targets, "", max_concurrent=4, deploy=deploy)):
        if result.status == "failed":
            raise SetupError(f"baseline {target.baseline} in {account.name} ({account.id}) {target.region}: "
                             f"{result.error}")
        steps.append(Step(f"baseline:{target.baseline}:{target.region}",
                          "already" if result.status == "unchanged" else "done", result.status))
    return steps


def _targets_account(fleet: FleetConfig, baseline, account: LiveAccount) -> bool:
    env = fleet.environments
    if account.name in (*env.beta_accounts, *env.gamma_accounts):
        return True
    t = baseline.targets or env.prod_targets
    if account.name in t.exclude_accounts:
        return False
    return bool(set(t.ous) & set(account.ou_path) or account.name in t.accounts
                or (t.tags and all(account.tags.get(k) == v for k, v in t.tags.items())))


def setup_account(ctx: AwsContext, fleet: FleetConfig, *, name: str, email: str, ou: str, tags: dict[str, str],
                  account_id: str) -> list[Step]:
    """OU, tags, SCPs, guardrail services, baseline stacks: in that order (guardrails before workloads)."""
    steps = [place(ctx, account_id, ou), tag(ctx, account_id, tags),
             attach_scps(ctx, account_id, fleet.root, fleet.guardrails.scps)]
    steps += enable_services(ctx, fleet, account_id)
    path = fleet.ou_paths().get(ou, (ou,))  # nested OUs: a target OU above the account's counts
    steps += deploy_baselines(ctx, fleet, LiveAccount(account_id, name, email, "ACTIVE", path, dict(tags)))
    return steps
