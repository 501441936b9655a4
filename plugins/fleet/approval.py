"""Approval requests, the decisions approvers sign with their own keys, and their verification.

Decisions live outside Airflow (in the artifacts bucket, or a DynamoDB table with
``approval.store: dynamodb``) so that an approver needs no Airflow access and the record survives
the run. ``fleet approve --key`` signs a decision with the approver's own OpenSSH ed25519 private
key; the gate verifies it with that approver's public key from the config of the very bundle
being approved. The pipeline holds public keys only: nothing on a worker can sign for anyone.

A decision counts only when it verifies with the key of the approver it names, is bound to the
very run, bundle and plan digests about to be deployed, is not older than the request, and its
approver neither triggered the run nor authored a commit in the bundle since the last prod
deployment. Any valid rejection wins over approvals. The Airflow UI path (prod.ui_approval) has no
key to sign with: Airflow authenticated its user, and the gate judges that task's own result by
the same rules (``judge_ui``); its record in the store is an unsigned audit copy.
"""

from __future__ import annotations

import json
import logging
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from fleet import sshkeys
from fleet.aws import AwsContext, ensure_table, error_code

log = logging.getLogger(__name__)

DECISIONS = ("approve", "reject")
UI = "airflow-ui"


class ApprovalError(RuntimeError):
    pass


class Store(Protocol):
    def put(self, key: str, doc: dict) -> None: ...
    def get(self, key: str) -> dict | None: ...
    def list(self, prefix: str) -> list[str]: ...


class S3Store:
    """JSON documents under ``approvals/`` in the artifacts bucket of the management account."""

    def __init__(self, ctx: AwsContext, bucket: str):
        self.s3, self.bucket = ctx.client("s3"), bucket

    def put(self, key: str, doc: dict) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=json.dumps(doc, indent=1, sort_keys=True).encode(),
                           ContentType="application/json")

    def get(self, key: str) -> dict | None:
        try:
            return json.loads(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        except Exception as exc:
            if error_code(exc) in {"NoSuchKey", "404"}:
                return None
            raise

    def list(self, prefix: str) -> list[str]:
        pages = self.s3.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        try:
            return sorted(o["Key"] for page in pages for o in page.get("Contents", []))
        except Exception as exc:
            if error_code(exc) == "NoSuchBucket":  # no run has reached the pipeline's Source stage yet
                return []
            raise


class DynamoStore:
    """The same documents in a DynamoDB table of the management account (``approval.store: dynamodb``).

    A key ``approvals/<run>/<rest>`` is the item (pk ``approvals/<run>``, sk ``<rest>``), so one
    run's decisions are a single Query; each document is kept as JSON text, byte for byte what was
    signed (DynamoDB's number type would otherwise change what the signature covers).
    """

    def __init__(self, ctx: AwsContext, table: str, create: bool = True):
        self.ddb, self.table = ctx.client("dynamodb"), table
        if create:
            self.ensure_table()

    def ensure_table(self) -> None:
        ensure_table(self.ddb, self.table, {"pk": "HASH", "sk": "RANGE"})

    @staticmethod
    def _split(key: str) -> tuple[str, str]:
        parts = key.split("/", 2)
        return "/".join(parts[:2]), (parts[2] if len(parts) > 2 else "")

    def put(self, key: str, doc: dict) -> None:
        pk, sk = self._split(key)
        self.ddb.put_item(TableName=self.table, Item={"pk": {"S": pk}, "sk": {"S": sk},
                                                      "doc": {"S": json.dumps(doc, sort_keys=True)}})

    def get(self, key: str) -> dict | None:
        pk, sk = self._split(key)
        item = self.ddb.get_item(TableName=self.table, Key={"pk": {"S": pk}, "sk": {"S": sk}},
                                 ConsistentRead=True).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def list(self, prefix: str) -> list[str]:
        pk, sk = self._split(prefix)
        keys = []
        if prefix.count("/") >= 2:  # within one run: a Query
            pages = self.ddb.get_paginator("query").paginate(
                TableName=self.table, ConsistentRead=True, ProjectionExpression="pk, sk",
                KeyConditionExpression="pk = :pk AND begins_with(sk, :sk)",
                ExpressionAttributeValues={":pk": {"S": pk}, ":sk": {"S": sk}})
        else:  # across runs (``fleet approvals``): a Scan, fine at the scale of pending approvals
            pages = self.ddb.get_paginator("scan").paginate(
                TableName=self.table, ConsistentRead=True, ProjectionExpression="pk, sk",
                FilterExpression="begins_with(pk, :p)", ExpressionAttributeValues={":p": {"S": prefix.rstrip("/")}})
        for page in pages:
            keys += [f"{i['pk']['S']}/{i['sk']['S']}" for i in page.get("Items", [])]
        return sorted(k for k in keys if k.startswith(prefix))


def open_store(ctx: AwsContext, settings, bucket: str) -> Store:
    """The approval store the config's ``approval`` section names (``settings``: config.Approval or a dict)."""
    get = settings.get if isinstance(settings, dict) else (lambda k, d=None: getattr(settings, k, d))
    if get("store", "s3") == "dynamodb":
        return DynamoStore(ctx, get("table", "fleet-approvals"))
    return S3Store(ctx, bucket)


def request_key(run_id: str) -> str:
    return f"approvals/{safe_key(run_id)}/request.json"


def decisions_prefix(run_id: str) -> str:
    return f"approvals/{safe_key(run_id)}/decisions/"


def safe_key(run_id: str) -> str:
    """A run id as an S3 key segment (run ids hold ':' and '+')."""
    return "".join(c if c.isalnum() or c in "-_.+" else "_" for c in run_id)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def canonical(record: dict) -> bytes:
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(record: dict, key) -> dict:
    """``record`` with the approver's signature (``key``: their ed25519 private key) and key fingerprint."""
    record = {**{k: v for k, v in record.items() if k != "signature"}, "key": sshkeys.fingerprint(key.public_key())}
    return {**record, "signature": sshkeys.sign(key, canonical(record))}


def signature_valid(record: dict, public_key: str) -> bool:
    try:
        return sshkeys.verify(sshkeys.parse_public_key(public_key), canonical(record), record.get("signature", ""))
    except sshkeys.SshKeyError:
        return False


def request(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, summary: str,
            triggered_by: str | None, approvers: tuple[str, ...], commit: str | None = None,
            fleet_repo: str | None = None, source_ref: str | None = None,
            targets: list[str] | tuple[str, ...] = ()) -> dict:
    """Publish (idempotently) what is waiting for a decision, what it is, and how to give it."""
    existing = store.get(request_key(run_id))
    shown = {"commit": commit, "fleet_repo": fleet_repo, "source_ref": source_ref, "targets": list(targets)}
    if isinstance(existing, dict) and existing.get("bundle_digest") == bundle_digest \
            and existing.get("plan_digest") == plan_digest:
        # Published first by a path that knew less (the UI task): add what this one knows, same request time.
        missing = {k: v for k, v in shown.items() if v and not existing.get(k)}
        if missing:
            existing = {**existing, **missing}
            store.put(request_key(run_id), existing)
        return existing
    doc = {"run_id": run_id, "bundle_digest": bundle_digest, "plan_digest": plan_digest, "summary": summary,
           **shown, "triggered_by": triggered_by, "approvers": list(approvers), "requested_at": _now(),
           "command": approve_command(run_id), "reject_command": approve_command(run_id, reject=True)}
    store.put(request_key(run_id), doc)
    return doc


def approve_command(run_id: str, *, reject: bool = False) -> str:
    """The exact command an approver runs (with their own private key and AWS access to the store)."""
    cmd = f"fleet approve {shlex.quote(run_id)} --approver <your approver id> --key ~/.ssh/id_ed25519"
    return cmd + (" --reject --reason '<why>'" if reject else " --reason '<what you checked>'")


def request_message(req: dict, *, deadline: str | None = None, ui_url: str | None = None) -> tuple[str, str]:
    """(subject, body) of the notification that a run waits for a decision (SNS subjects: ASCII, <100 chars)."""
    subject = f"fleet-pipeline: approval needed, bundle {req['bundle_digest'][:12]}"
    targets = req.get("targets") or []
    lines = [
        "A fleet-pipeline run is waiting at prod.approval. Nothing reaches prod until an allowed approver",
        "records a decision signed with their own key, bound to exactly these digests.",
        "",
        f"run:           {req['run_id']}",
        f"fleet repo:    {req.get('fleet_repo') or '-'}",
        f"source ref:    {req.get('source_ref') or '-'}",
        f"commit:        {req.get('commit') or '-'}",
        f"bundle digest: {req['bundle_digest']}",
        f"plan digest:   {req.get('plan_digest') or '-'}",
        f"plan summary:  {req.get('summary') or '-'}",
        f"targets:       {', '.join(targets) if targets else '-'}",
        f"triggered by:  {req.get('triggered_by') or '-'} (may not approve this run)",
        f"approvers:     {', '.join(req.get('approvers') or [])}",
        f"decide before: {deadline or '-'} (no decision by then fails the run)",
        "",
        "Approve:",
        f"  {req['command']}",
        "Reject:",
        f"  {req.get('reject_command') or approve_command(req['run_id'], reject=True)}",
    ]
    if ui_url:
        lines += ["", f"Or in the Airflow UI (Required actions): {ui_url}"]
    return subject[:99], "\n".join(lines)


def decide(store: Store, *, run_id: str, approver: str, approve: bool, reason: str, key, via: str = "cli") -> dict:
    """Record a decision signed with ``key`` (the approver's private key), bound to the pending request."""
    req = store.get(request_key(run_id))
    if not isinstance(req, dict) or not req.get("bundle_digest"):
        raise ApprovalError(f"no approval request for run {run_id!r} (is the run waiting at prod.approval?)")
    record = sign(_decision(run_id, req["bundle_digest"], req.get("plan_digest"), approver, approve, reason, via),
                  key)
    _put_decision(store, run_id, approver, record)
    return record


def record_audit(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, approver: str,
                 approve: bool, reason: str, via: str) -> dict:
    """An unsigned record of a decision made elsewhere (the UI, the empty plan): for the audit trail
    and to wake the waiting gate, which never takes it as a decision."""
    record = _decision(run_id, bundle_digest, plan_digest, approver, approve, reason, via)
    _put_decision(store, run_id, approver, record)
    return record


def _decision(run_id: str, bundle_digest: str, plan_digest: str | None, approver: str, approve: bool, reason: str,
              via: str) -> dict:
    return {"run_id": run_id, "bundle_digest": bundle_digest, "plan_digest": plan_digest, "approver": approver,
            "decision": "approve" if approve else "reject", "reason": reason, "decided_at": _now(), "via": via}


def _put_decision(store: Store, run_id: str, approver: str, record: dict) -> None:
    # Microseconds in the key: two decisions in the same second must not overwrite each other.
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    store.put(f"{decisions_prefix(run_id)}{stamp}-{safe_key(approver)}.json", record)


@dataclass
class Verdict:
    state: str  # waiting | approved | rejected
    decision: dict | None = None
    ignored: list[str] = field(default_factory=list)  # why each other record did not count

    @property
    def reason(self) -> str:
        if self.decision is None:
            return "no valid decision yet"
        return (f"{self.decision['decision']} by {self.decision['approver']} at {self.decision['decided_at']}"
                + (f": {self.decision['reason']}" if self.decision.get("reason") else ""))


@dataclass(frozen=True)
class Rules:
    """What a decision is judged against: the run, its digests, who may decide and who may not."""

    run_id: str
    bundle_digest: str
    plan_digest: str | None
    approvers: tuple[dict, ...]  # {name, email, public_key} from the bundle's own config
    triggered_by: str | None = None
    authors: tuple[str, ...] = ()  # git author emails of the bundle's commits since the last prod deployment
    requested_at: str | None = None

    def approver(self, name) -> dict | None:
        # Exact match: 'Platform-lead' or a Cyrillic 'а' is another name, not the same person.
        return next((a for a in self.approvers if isinstance(name, str) and a.get("name") == name), None)


def evaluate(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, approvers,
             triggered_by: str | None, authors=(), ui_decision: dict | None = None) -> Verdict:
    """Judge every record of the run: any valid rejection wins, else the first valid approval.

    ``approvers``: {name, email, public_key} dicts (or config.Approver objects) of the bundle's
    config. ``ui_decision``: what prod.ui_approval returned in this run (Airflow authenticated its
    user), judged by the same rules minus the signature. Every record that does not count is
    reported with why, and logged.
    """
    req = store.get(request_key(run_id))
    rules = Rules(run_id, bundle_digest, plan_digest, tuple(_identity(a) for a in approvers), triggered_by,
                  tuple(str(a).lower() for a in authors or ()),
                  req.get("requested_at") if isinstance(req, dict) else None)
    ignored, valid = [], []
    for k in store.list(decisions_prefix(run_id)):
        name = k.rsplit("/", 1)[-1]
        try:
            record = store.get(k)
        except Exception as exc:  # noqa: BLE001 - anyone who can write the store must not crash the gate
            why = f"unreadable ({type(exc).__name__})"
        else:
            why = _invalid(record, rules)
        if why:
            ignored.append(f"{name}: {why}")
        else:
            valid.append(record)
    if ui_decision:
        why = judge_ui(ui_decision, rules)
        if why:
            ignored.append(f"prod.ui_approval: {why}")
        else:
            valid.append(ui_decision)
    for why in ignored:
        log.warning("approval record ignored: %s", why)
    rejection = next((r for r in valid if r["decision"] == "reject"), None)
    if rejection:
        return Verdict("rejected", rejection, ignored)
    if valid:
        return Verdict("approved", valid[0], ignored)
    return Verdict("waiting", None, ignored)


def settled(store: Store, req: dict) -> bool:
    """Does a pending request have a decision that counts (approve or reject)?

    What `fleet approvals` and the Fleet page list until then. They hold the request's approver
    names, not the bundle's keys: every rule but the signature is applied (a signature is still
    required of `fleet approve` records), so an answer from someone who may not approve never
    hides a run that still waits. The UI task's record counts here: that task refused anyone else.
    """
    rules = Rules(req["run_id"], req["bundle_digest"], req.get("plan_digest"),
                  tuple({"name": n} for n in req.get("approvers") or ()), req.get("triggered_by"), (),
                  req.get("requested_at"))
    for k in store.list(decisions_prefix(req["run_id"])):
        try:
            record = store.get(k)
        except Exception:  # noqa: BLE001 - an unreadable record settles nothing
            continue
        if not isinstance(record, dict):
            continue
        approver = rules.approver(record.get("approver"))
        signed_or_ui = "signature" in record or record.get("via") == UI
        if approver is not None and signed_or_ui and _judge(record, rules, approver) is None:
            return True
    return False


def _identity(a) -> dict:
    return a if isinstance(a, dict) else {"name": a.name, "email": a.email, "public_key": a.public_key}


def _invalid(record, rules: Rules) -> str | None:
    if not isinstance(record, dict):
        return "malformed (not a JSON object)"
    if record.get("via") == UI and "signature" not in record:
        return "audit copy of a UI decision (the gate judges prod.ui_approval's own result)"
    if record.get("via") == "automatic" and "signature" not in record:
        return "audit record of an automatic approval (not a decision for this gate)"
    if "signature" not in record:
        return "unsigned"
    approver = rules.approver(record.get("approver"))
    if approver is None:
        return f"approver {record.get('approver')!r} is not in approval.approvers"
    if not signature_valid(record, approver.get("public_key", "")):
        return f"signature does not verify with {approver['name']}'s public key"
    return _judge(record, rules, approver)


def judge_ui(decision: dict, rules: Rules) -> str | None:
    """Why prod.ui_approval's result does not count, or None: the same rules as a signed record,
    the signature aside (Airflow authenticated the responding user, the pipeline has no key)."""
    if not isinstance(decision, dict) or decision.get("via") != UI:
        return "malformed UI decision"
    approver = rules.approver(decision.get("approver"))
    if approver is None:
        return f"approver {decision.get('approver')!r} is not in approval.approvers"
    return _judge({**decision, "run_id": decision.get("run_id", rules.run_id)}, rules, approver)


def _judge(record: dict, rules: Rules, approver: dict) -> str | None:
    if record.get("run_id") != rules.run_id:
        return f"for another run ({record.get('run_id')})"
    if record.get("bundle_digest") != rules.bundle_digest:
        return (f"for another bundle ({str(record.get('bundle_digest'))[:12]}, "
                f"this run deploys {rules.bundle_digest[:12]})")
    if record.get("plan_digest") != rules.plan_digest:
        return "for another plan"
    if record.get("decision") not in DECISIONS:
        return f"unknown decision {record.get('decision')!r}"
    decided = _time(record.get("decided_at"))
    if decided is None:
        return f"malformed decided_at {record.get('decided_at')!r}"
    requested = _time(rules.requested_at)
    if requested is not None and decided < requested:
        return f"older than the request ({record.get('decided_at')} < {rules.requested_at})"
    if rules.triggered_by and approver["name"] == rules.triggered_by:
        return f"{rules.triggered_by!r} triggered this run and cannot approve it (segregation of duties)"
    if str(approver.get("email", "")).lower() in rules.authors:
        return (f"{approver['name']} ({approver['email']}) authored a commit in this bundle since the last "
                "prod deployment and cannot approve it (segregation of duties)")
    return None


def _time(value) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else None
