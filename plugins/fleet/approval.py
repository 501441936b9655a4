"""Approval records: the request a run publishes, the decisions people sign, and their verification.

Decisions live outside Airflow (in the artifacts bucket, or a DynamoDB table with
``approval.store: dynamodb``) so that an approver needs no Airflow access and the record survives
the run. Two ways write a decision, both signed with the same key and judged by the same rules:
``fleet approve`` (any process with the key) and the Airflow UI's human-in-the-loop task, which
records the responding user's decision (``record_decision``) for the one gate, the sensor. A decision counts only when it is signed with the approval
key, names an allowed approver who did not trigger the run, and is bound to the very bundle (and
plan) digest the run is about to deploy: approving one bundle can never release another.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shlex
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Protocol

from fleet.aws import AwsContext, ensure_table, error_code

DECISIONS = ("approve", "reject")
KEY_ENV = "FLEET_APPROVAL_KEY"


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


def key_from_env() -> bytes:
    key = os.environ.get(KEY_ENV, "")
    if len(key) < 16:
        raise ApprovalError(f"set {KEY_ENV} to the approval signing key (at least 16 characters); "
                            "it is the same secret the pipeline's fleet_approval connection holds")
    return key.encode()


def canonical(record: dict) -> bytes:
    body = {k: v for k, v in record.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def sign(record: dict, key: bytes) -> dict:
    return {**record, "signature": hmac.new(key, canonical(record), hashlib.sha256).hexdigest()}


def signature_valid(record: dict, key: bytes) -> bool:
    expected = hmac.new(key, canonical(record), hashlib.sha256).hexdigest()
    return hmac.compare_digest(str(record.get("signature", "")), expected)


def request(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, summary: str,
            triggered_by: str | None, approvers: tuple[str, ...]) -> dict:
    """Publish (idempotently) what is waiting for a decision and how to give it."""
    existing = store.get(request_key(run_id))
    if existing and existing.get("bundle_digest") == bundle_digest and existing.get("plan_digest") == plan_digest:
        return existing
    doc = {"run_id": run_id, "bundle_digest": bundle_digest, "plan_digest": plan_digest, "summary": summary,
           "triggered_by": triggered_by, "approvers": list(approvers), "requested_at": _now(),
           "command": approve_command(run_id), "reject_command": approve_command(run_id, reject=True)}
    store.put(request_key(run_id), doc)
    return doc


def approve_command(run_id: str, *, reject: bool = False) -> str:
    """The exact command an approver runs (with FLEET_APPROVAL_KEY set and AWS access to the store)."""
    cmd = f"fleet approve {shlex.quote(run_id)} --approver <your approver id>"
    return cmd + (" --reject --reason '<why>'" if reject else " --reason '<what you checked>'")


def request_message(req: dict, *, deadline: str | None = None, ui_url: str | None = None) -> tuple[str, str]:
    """(subject, body) of the notification that a run waits for a decision (SNS subjects: ASCII, <100 chars)."""
    subject = f"fleet-pipeline: approval needed, bundle {req['bundle_digest'][:12]}"
    lines = [
        "A fleet-pipeline run is waiting at prod.approval. Nothing reaches prod until an allowed approver",
        "records a signed decision bound to exactly these digests.",
        "",
        f"run:           {req['run_id']}",
        f"bundle digest: {req['bundle_digest']}",
        f"plan digest:   {req.get('plan_digest') or '-'}",
        f"plan summary:  {req.get('summary') or '-'}",
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


def decide(store: Store, *, run_id: str, approver: str, approve: bool, reason: str, key: bytes,
           via: str = "cli") -> dict:
    """Record a signed decision bound to the digests of the run's pending request."""
    req = store.get(request_key(run_id))
    if req is None:
        raise ApprovalError(f"no approval request for run {run_id!r} (is the run waiting at prod.approval?)")
    return record_decision(store, run_id=run_id, bundle_digest=req["bundle_digest"],
                           plan_digest=req.get("plan_digest"), approver=approver, approve=approve, reason=reason,
                           key=key, via=via)


def record_decision(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, approver: str,
                    approve: bool, reason: str, key: bytes, via: str) -> dict:
    """Sign and store one decision; ``via`` says which path wrote it (cli | airflow-ui)."""
    record = sign({"run_id": run_id, "bundle_digest": bundle_digest, "plan_digest": plan_digest,
                   "approver": approver, "decision": "approve" if approve else "reject",
                   "reason": reason, "decided_at": _now(), "via": via}, key)
    # Microseconds in the key: two decisions in the same second must not overwrite each other.
    stamp = datetime.now(timezone.utc).isoformat(timespec="microseconds")
    store.put(f"{decisions_prefix(run_id)}{stamp}-{safe_key(approver)}.json", record)
    return record


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


def evaluate(store: Store, *, run_id: str, bundle_digest: str, plan_digest: str | None, key: bytes | None,
             approvers: tuple[str, ...], triggered_by: str | None) -> Verdict:
    """The first valid decision wins; every record that does not count is reported with why."""
    ignored = []
    requested_at = _requested_at(store, run_id)
    for k in store.list(decisions_prefix(run_id)):
        record, why = _read_record(store, k)
        why = why or _invalid(record, run_id, bundle_digest, plan_digest, key, approvers, triggered_by)
        if not why and requested_at and str(record.get("decided_at") or "") < requested_at:
            why = f"decided at {record.get('decided_at')!r}, before this run's request ({requested_at})"
        if why:
            ignored.append(f"{k.rsplit('/', 1)[-1]}: {why}")
            continue
        state = "approved" if record["decision"] == "approve" else "rejected"
        return Verdict(state, record, ignored)
    return Verdict("waiting", None, ignored)


def settled(store: Store, req: dict, key: bytes | None = None) -> bool:
    """Does a pending request have a decision that counts (approve or reject)?

    What `fleet approvals` and the Fleet page list until then. Without the key (the Fleet page
    holds none) every rule but the signature is applied, so an answer from someone who may not
    approve never hides a run that still waits.
    """
    verdict = evaluate(store, run_id=req["run_id"], bundle_digest=req["bundle_digest"],
                       plan_digest=req.get("plan_digest"), key=key, approvers=tuple(req.get("approvers") or ()),
                       triggered_by=req.get("triggered_by"))
    return verdict.state != "waiting"


def _read_record(store: Store, key: str) -> tuple[dict, str | None]:
    """A decision record, or why it is not one: anyone who can write the store can write anything
    there, and a malformed file must be ignored (and said), never fail a waiting run."""
    try:
        record = store.get(key)
    except (ValueError, TypeError, UnicodeDecodeError) as exc:
        return {}, f"malformed, not a JSON decision record ({type(exc).__name__})"
    if not isinstance(record, dict):
        return {}, f"malformed, a JSON {type(record).__name__} instead of a decision record"
    return record, None


def _requested_at(store: Store, run_id: str) -> str | None:
    try:
        req = store.get(request_key(run_id))
    except (ValueError, TypeError, UnicodeDecodeError):
        return None
    return req.get("requested_at") if isinstance(req, dict) and isinstance(req.get("requested_at"), str) else None


def _invalid(record: dict, run_id: str, bundle_digest: str, plan_digest: str | None, key: bytes | None,
             approvers: tuple[str, ...], triggered_by: str | None) -> str | None:
    if "signature" not in record:
        return "unsigned"
    if key is not None and not signature_valid(record, key):
        return "signature does not verify with the approval key"
    if record.get("run_id") != run_id:
        return f"for another run ({record.get('run_id')})"
    if record.get("bundle_digest") != bundle_digest:
        return f"for another bundle ({str(record.get('bundle_digest'))[:12]}, this run deploys {bundle_digest[:12]})"
    if record.get("plan_digest") != plan_digest:
        return "for another plan"
    if record.get("approver") not in approvers:
        return f"approver {record.get('approver')!r} is not in approval.approvers"
    if triggered_by and record.get("approver") == triggered_by:
        return f"{triggered_by!r} triggered this run and cannot approve it (segregation of duties)"
    if record.get("decision") not in DECISIONS:
        return f"unknown decision {record.get('decision')!r}"
    return None
