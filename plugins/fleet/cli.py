"""The ``fleet`` command: the pipeline's gates and decisions from a laptop or a terminal.

Exit codes: 0 success, 1 the check or action found a problem, 2 bad usage or bad config.
AWS credentials and endpoints come from the environment (boto3's chain; AWS_ENDPOINT_URL for
local AWS), exactly as for any AWS tool.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "include" / "fleet.yaml"


def _load(config: str):
    from fleet.config import ConfigError, load_config

    try:
        return load_config(config)
    except ConfigError as exc:
        print(f"fleet: the fleet config is not valid:\n{exc}", file=sys.stderr)
        raise SystemExit(2)


def _store(fleet):
    from fleet import approval, source
    from fleet.aws import AwsContext

    org = fleet.organization
    ctx = AwsContext.from_environment(org.home_region, org.pipeline_role)
    return approval.S3Store(ctx, source.artifacts_bucket(org.management_account, org.home_region))


def _approval_store(fleet):
    """Where approvals live per the config's ``approval.store`` (the artifacts bucket, or DynamoDB)."""
    from fleet import approval, source
    from fleet.aws import AwsContext

    org = fleet.organization
    ctx = AwsContext.from_environment(org.home_region, org.pipeline_role)
    return approval.open_store(ctx, fleet.approval, source.artifacts_bucket(org.management_account, org.home_region))


def cmd_check(args) -> int:
    from fleet.gates.command import check_command

    return check_command(args.path, fmt=args.format, history=not args.no_history)


def cmd_rules(args) -> int:
    from fleet.gates.rules import run

    return run(args)


def cmd_validate(args) -> int:
    fleet = _load(args.config)
    print(f"{args.config}: valid ({len(fleet.accounts)} accounts, {len(fleet.baselines)} baselines, "
          f"{len(fleet.catalog.products)} products)")
    return 0


def cmd_approve(args) -> int:
    from fleet import approval, sshkeys

    fleet = _load(args.config)
    listed = {a.name: a for a in fleet.approval.approvers}
    if args.approver not in listed:
        print(f"fleet: {args.approver!r} is not in approval.approvers {sorted(listed)} of {args.config}",
              file=sys.stderr)
        return 2
    try:
        key = sshkeys.load_private_key(args.key)
    except sshkeys.SshKeyError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 2
    mine = sshkeys.fingerprint(key.public_key())
    if sshkeys.fingerprint(listed[args.approver].public_key) != mine:
        # Only a warning: the gate verifies against the config of the bundle under approval, which
        # may differ from this local copy.
        print(f"fleet: warning: {args.key} ({mine}) is not the key {args.config} lists for {args.approver}; "
              "the gate will ignore this decision unless the bundle's config lists it", file=sys.stderr)
    try:
        record = approval.decide(_approval_store(fleet), run_id=args.run_id, approver=args.approver,
                                 approve=not args.reject, reason=args.reason or "", key=key)
    except approval.ApprovalError as exc:
        print(f"fleet: {exc}", file=sys.stderr)
        return 1
    print(f"recorded: {record['decision']} of run {record['run_id']} (bundle {record['bundle_digest'][:12]}) "
          f"by {record['approver']}, signed with {mine}")
    return 0


def cmd_cleanse(args) -> int:
    """Rewrite a remote's history so no secret of the purge plan is left: never a side effect of a
    pipeline run. A fresh rescan comes first; without --push the rewrite is only proven in a mirror."""
    from fleet.display import escape
    from fleet.gates.cleanse import CleanseError, cleanse

    plan = None
    if args.plan:
        try:
            plan = json.loads(Path(args.plan).read_text(encoding="utf-8"))
            if not isinstance(plan, dict) or not isinstance(plan.get("secrets"), list):
                raise ValueError("expected a mapping with a list of secrets")
        except (OSError, ValueError) as exc:
            print(f"fleet cleanse: {escape(args.plan)}: not a purge plan ({escape(str(exc))})", file=sys.stderr)
            return 2
    try:
        result = cleanse(args.remote, plan, push=args.push)
    except CleanseError as exc:
        print(f"fleet cleanse: {escape(str(exc))}", file=sys.stderr)
        return 1
    print(json.dumps({"remote": result.remote, "rewritten_refs": result.rewritten_refs,
                      "replaced_hashes": result.replaced_hashes, "already_gone": result.already_gone,
                      "pushed": result.pushed, "remaining_findings": result.remaining_findings}, indent=2))
    if not result.replaced_hashes:
        print("nothing to purge: the fresh rescan finds none of the plan's secrets", file=sys.stderr)
    elif not result.pushed:
        print("rewritten and rescanned clean in a mirror; NOT pushed (run again with --push to force-push "
              "every ref; the secrets must be rotated either way)", file=sys.stderr)
    return 0 if result.ok else 1


def cmd_approvals(args) -> int:
    """Runs waiting for a decision: what an approver needs before ``fleet approve``."""
    from fleet import approval

    store = _approval_store(_load(args.config))
    pending = []
    for key in store.list("approvals/"):
        if key.endswith("/request.json"):
            req = store.get(key)
            if args.all or not approval.settled(store, req):
                pending.append(req)
    if args.format == "json":
        print(json.dumps(pending, indent=1))
    else:
        for req in pending:
            print(f"{req['run_id']}  bundle {req['bundle_digest'][:12]}  {req['summary']}")
        if not pending:
            print("no run is waiting for approval")
    return 0


def cmd_report(args) -> int:
    """A run's report from the artifacts bucket: what ops looks at after (or during) a rollout."""
    from fleet import approval, report

    store = _store(_load(args.config))
    doc = store.get(f"reports/{approval.safe_key(args.run_id)}/report.json")
    if doc is None:
        print(f"fleet: no report for run {args.run_id!r} in s3://{store.bucket}/reports/", file=sys.stderr)
        return 1
    if args.format == "json":
        print(json.dumps(doc, indent=1))
    elif args.format == "html":
        print(report.to_html(doc))
    else:
        print(report.to_text(doc))
        if args.plan:
            from fleet import plan

            planned = store.get(f"plans/{approval.safe_key(args.run_id)}/plan.json")
            print("\n" + (plan.to_text(planned) if planned else "no prod plan for this run"))
        print(f"\nreport: s3://{store.bucket}/reports/{approval.safe_key(args.run_id)}/report.json (and .html)")
    return 0


def cmd_accounts(args) -> int:
    """The account request log: every request's one outcome, for ops (what account_vending recorded)."""
    from fleet.aws import AwsContext
    from fleet.vending_log import RequestLog

    org = _load(args.config).organization
    records = RequestLog(AwsContext.from_environment(org.home_region, org.pipeline_role)).all()
    if args.run_id:
        records = [r for r in records if r.get("run_id") == args.run_id]
    if args.format == "json":
        print(json.dumps(records, indent=1, sort_keys=True))
        return 0
    for r in sorted(records, key=lambda r: r.get("updated_at", "")):
        changed = sum(s.get("status") == "done" for s in r.get("steps", []))
        print(f"{r['name']:<22} {r['email']:<32} {r.get('outcome', '-'):<11} {r.get('account_id') or '-':<13} "
              f"{r.get('stage', '-'):<14} {f'{changed} set-up change(s)' if r.get('steps') else ''}"
              f"{r.get('reason') or ''}")
    if not records:
        print("no account request recorded")
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="fleet", description="AWS account fleet pipeline: gates, approvals, reports")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("check", help="run every Build gate over a fleet repository")
    c.add_argument("path", nargs="?", help="fleet repository folder (default: this repo's include/)")
    c.add_argument("--format", choices=["text", "json"], default="text")
    c.add_argument("--no-history", action="store_true", help="skip the git history secrets scan")
    c.set_defaults(func=cmd_check)

    from fleet.gates.rules import add_arguments as rules_arguments

    ru = sub.add_parser("rules", help="list every rule the Build gates can report (README's table)")
    rules_arguments(ru)
    ru.set_defaults(func=cmd_rules)

    v = sub.add_parser("validate", help="validate a fleet config")
    v.add_argument("--config", default=str(DEFAULT_CONFIG))
    v.set_defaults(func=cmd_validate)

    a = sub.add_parser("approve", help="record a decision for a run waiting at prod.approval, signed with "
                                       "your own OpenSSH ed25519 key")
    a.add_argument("run_id")
    a.add_argument("--approver", required=True)
    a.add_argument("--key", required=True, help="your OpenSSH ed25519 private key (its public key is yours "
                                                "in approval.approvers)")
    a.add_argument("--reject", action="store_true")
    a.add_argument("--reason", default="")
    a.add_argument("--config", default=str(DEFAULT_CONFIG))
    a.set_defaults(func=cmd_approve)

    cl = sub.add_parser("cleanse", help="purge secrets from a remote's git history (after a fresh rescan)")
    cl.add_argument("--remote", required=True, help="the git remote (URL or path) whose history is rewritten")
    cl.add_argument("--plan", help="a purge plan (the pipeline's purge-plan.json); default: what a fresh "
                                   "rescan finds")
    cl.add_argument("--push", action="store_true", help="force-push the rewritten refs (default: only prove "
                                                        "the rewrite in a mirror)")
    cl.set_defaults(func=cmd_cleanse)

    ls = sub.add_parser("approvals", help="list runs waiting for a decision")
    ls.add_argument("--config", default=str(DEFAULT_CONFIG))
    ls.add_argument("--all", action="store_true", help="also runs already decided")
    ls.add_argument("--format", choices=["text", "json"], default="text")
    ls.set_defaults(func=cmd_approvals)

    r = sub.add_parser("report", help="print a run's report (per stage and per account)")
    r.add_argument("run_id")
    r.add_argument("--config", default=str(DEFAULT_CONFIG))
    r.add_argument("--format", choices=["text", "json", "html"], default="text")
    r.add_argument("--plan", action="store_true",
                   help="also the prod plan per account and baseline: order, action, resolved parameters")
    r.set_defaults(func=cmd_report)

    ac = sub.add_parser("accounts", help="list account requests and their outcomes (account_vending)")
    ac.add_argument("--config", default=str(DEFAULT_CONFIG))
    ac.add_argument("--run-id", help="only the requests of this account_vending run")
    ac.add_argument("--format", choices=["text", "json"], default="text")
    ac.set_defaults(func=cmd_accounts)

    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
