"""The per-account ledger: what each stack in each account last got, and the last bundle that worked.

A DynamoDB table in the management account, created by the pipeline. It is what makes a rollout
resumable and cheap to repeat: an account whose stack already runs this digest is skipped, a
"rerun failed only" run picks the failures from here, and a halted wave is put back on each
account's last known good bundle.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone

from fleet.aws import AwsContext, ensure_table
from fleet.stacks import DeployResult

TABLE = "fleet-ledger"
OK_STATUSES = {"created", "updated", "unchanged", "skipped", "rolled-back"}
# No longer managed: the stack was deleted after an approved plan, or left in place (on_removal: retain).
REMOVED = {"deleted", "retained"}
# Written just before a try deploys an account: if the try is lost (its worker killed), the retry
# reads which try was deploying it and credits that try with a deployment it finds done.
DEPLOYING = "deploying"


@dataclass
class Entry:
    account_id: str
    region: str
    stack_name: str
    account_name: str = ""
    bundle_digest: str = ""
    status: str = ""
    error_class: str | None = None
    error: str | None = None
    seconds: float = 0.0
    outputs: dict[str, str] = field(default_factory=dict)
    run_id: str = ""
    updated_at: str = ""
    last_good_digest: str | None = None
    prior_good_digest: str | None = None  # the good digest before last_good: what a rollback returns to
    try_number: int = 0  # the task try of run_id that wrote it (0: not known)
    # What the pipeline deployed, kept so a removal is found and ordered after the config forgets it.
    baseline: str = ""
    depends_on: tuple[str, ...] = ()
    on_removal: str = "delete"

    def good_before(self, digest: str) -> str | None:
        """The last bundle that worked here other than ``digest``."""
        return self.last_good_digest if self.last_good_digest != digest else self.prior_good_digest

    @property
    def key(self) -> str:
        return entry_key(self.account_id, self.region, self.stack_name)

    @property
    def ok(self) -> bool:
        return self.status in OK_STATUSES

    @property
    def managed(self) -> bool:
        """A stack the pipeline still manages (everything but deleted and retained ones)."""
        return self.status not in REMOVED


def baseline_of_stack(stack_name: str) -> str:
    """A baseline stack is named fleet-<baseline> (fleet.config.Baseline.stack_name)."""
    return stack_name.removeprefix("fleet-") if stack_name.startswith("fleet-") else ""


def entry_key(account_id: str, region: str, stack_name: str) -> str:
    return f"{account_id}#{region}#{stack_name}"


def error_class(error: str | None) -> str | None:
    """A short, groupable class for an error message ("AccessDenied", "ROLLBACK_COMPLETE", ...)."""
    if not error:
        return None
    head = error.split(":", 1)[0].strip()
    return head if head and " " not in head else "Error"


class Ledger:
    def __init__(self, ctx: AwsContext, table: str = TABLE):
        self.ddb = ctx.client("dynamodb")
        self.table = table

    def ensure_table(self) -> None:
        """Create the table on first use (on-demand billing: no capacity to plan)."""
        ensure_table(self.ddb, self.table, {"pk": "HASH"})

    def get_many(self, keys: Iterable[str]) -> dict[str, Entry]:
        """BatchGetItem in chunks of 100 (the API's limit), retrying unprocessed keys."""
        keys = list(dict.fromkeys(keys))
        out: dict[str, Entry] = {}
        for i in range(0, len(keys), 100):
            request = {self.table: {"Keys": [{"pk": {"S": k}} for k in keys[i:i + 100]]}}
            while request:
                resp = self.ddb.batch_get_item(RequestItems=request)
                for item in resp["Responses"].get(self.table, []):
                    entry = _from_item(item)
                    out[entry.key] = entry
                request = resp.get("UnprocessedKeys") or None
        return out

    def mark_deploying(self, targets: Iterable, digest: str, run_id: str, try_number: int,
                       previous: dict[str, Entry]) -> list[Entry]:
        """Record that this try is about to deploy ``digest`` to ``targets`` (last good unchanged)."""
        targets = list(targets)
        return self.record([(DeployResult(t.account_id, t.account_name, t.region, t.stack_name, DEPLOYING), digest)
                            for t in targets], run_id, previous, try_number=try_number, targets=targets)

    def record(self, results: Iterable[tuple[DeployResult, str]], run_id: str,
               previous: dict[str, Entry] | None = None, *, try_number: int = 0,
               targets: Iterable | None = None) -> list[Entry]:
        """Write each (result, digest it deployed); a success also becomes the last known good digest.
        ``targets`` (stack targets) say which baseline each stack is, what it depends on and its
        on_removal; without them the entry keeps what it had."""
        previous = previous if previous is not None else {}
        by_key = {entry_key(t.account_id, t.region, t.stack_name): t for t in targets or ()}
        now = datetime.now(timezone.utc).isoformat(timespec="seconds")
        entries = []
        for r, digest in results:
            before = previous.get(entry_key(r.account_id, r.region, r.stack_name))
            before_good = before.last_good_digest if before else None
            prior = before.prior_good_digest if before else None
            if r.status in OK_STATUSES:
                last_good = digest
                if before_good and before_good != digest:
                    prior = before_good
            else:
                last_good = before_good
            t = by_key.get(entry_key(r.account_id, r.region, r.stack_name))
            if t is not None and t.baseline:
                kind = (t.baseline, tuple(t.depends_on), t.on_removal)
            elif before is not None and before.baseline:
                kind = (before.baseline, before.depends_on, before.on_removal)
            else:
                kind = (baseline_of_stack(r.stack_name), (), "delete")
            outputs = r.outputs if r.outputs or before is None or r.status not in OK_STATUSES else before.outputs
            entries.append(Entry(r.account_id, r.region, r.stack_name, r.account_name, digest, r.status,
                                 error_class(r.error), r.error, round(r.seconds, 3), outputs, run_id, now,
                                 last_good, prior, r.try_number or try_number, *kind))
        for i in range(0, len(entries), 25):  # BatchWriteItem's limit
            request = {self.table: [{"PutRequest": {"Item": _to_item(e)}} for e in entries[i:i + 25]]}
            while request:
                request = self.ddb.batch_write_item(RequestItems=request).get("UnprocessedItems") or None
        return entries

    def scan(self) -> list[Entry]:
        pages = self.ddb.get_paginator("scan").paginate(TableName=self.table)
        return [_from_item(i) for page in pages for i in page.get("Items", [])]


def _to_item(e: Entry) -> dict:
    item = {"pk": {"S": e.key}, "account_id": {"S": e.account_id}, "region": {"S": e.region},
            "stack_name": {"S": e.stack_name}, "account_name": {"S": e.account_name},
            "bundle_digest": {"S": e.bundle_digest}, "status": {"S": e.status},
            "seconds": {"N": str(e.seconds)}, "run_id": {"S": e.run_id}, "updated_at": {"S": e.updated_at},
            "outputs": {"M": {k: {"S": v} for k, v in e.outputs.items()}}}
    if e.try_number:
        item["try_number"] = {"N": str(e.try_number)}
    if e.baseline:
        item["baseline"] = {"S": e.baseline}
        item["on_removal"] = {"S": e.on_removal}
    if e.depends_on:
        item["depends_on"] = {"L": [{"S": d} for d in e.depends_on]}
    for name in ("error_class", "error", "last_good_digest", "prior_good_digest"):
        value = getattr(e, name)
        if value:
            item[name] = {"S": value[:2000]}
    return item


def _from_item(item: dict) -> Entry:
    s = lambda k: item[k]["S"] if k in item else None  # noqa: E731
    return Entry(s("account_id"), s("region"), s("stack_name"), s("account_name") or "", s("bundle_digest") or "",
                 s("status") or "", s("error_class"), s("error"), float(item.get("seconds", {}).get("N", 0)),
                 {k: v["S"] for k, v in item.get("outputs", {}).get("M", {}).items()}, s("run_id") or "",
                 s("updated_at") or "", s("last_good_digest"), s("prior_good_digest"),
                 int(item.get("try_number", {}).get("N", 0)), s("baseline") or "",
                 tuple(d["S"] for d in item.get("depends_on", {}).get("L", [])), s("on_removal") or "delete")
