"""The durable record of account requests: one item per email in DynamoDB (management account).

Airflow's XComs vanish with a failed try; this table does not, so a request's one outcome
(created, existed, failed with AWS's reason) survives task retries and DAG reruns, the report
reads it whatever failed, and a rerun knows which run created an account.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone

from fleet.aws import AwsContext, ensure_table

TABLE = "fleet-account-requests"


class RequestLog:
    def __init__(self, ctx: AwsContext, table: str = TABLE):
        self.table = table
        self.ddb = ctx.client("dynamodb")
        ensure_table(self.ddb, table, {"email": "HASH"})

    def get(self, email: str) -> dict | None:
        item = self.ddb.get_item(TableName=self.table, Key={"email": {"S": email.lower()}},
                                 ConsistentRead=True).get("Item")
        return json.loads(item["doc"]["S"]) if item else None

    def put(self, record: dict) -> dict:
        record = {**record, "updated_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        self.ddb.put_item(TableName=self.table, Item={"email": {"S": record["email"].lower()},
                                                      "doc": {"S": json.dumps(record, sort_keys=True)}})
        return record

    def update(self, email: str, **fields) -> dict:
        return self.put({**(self.get(email) or {"email": email}), **fields})

    def many(self, emails: list[str]) -> dict[str, dict]:
        """email (lower case) -> record, for the emails that have one."""
        out: dict[str, dict] = {}
        keys = [{"email": {"S": e.lower()}} for e in dict.fromkeys(e.lower() for e in emails)]
        for i in range(0, len(keys), 100):  # BatchGetItem's limit
            pending = {self.table: {"Keys": keys[i:i + 100], "ConsistentRead": True}}
            while pending:
                resp = self.ddb.batch_get_item(RequestItems=pending)
                for item in resp["Responses"].get(self.table, []):
                    out[item["email"]["S"]] = json.loads(item["doc"]["S"])
                pending = resp.get("UnprocessedKeys") or {}
        return out

    def all(self) -> list[dict]:
        return [json.loads(item["doc"]["S"]) for page in self.ddb.get_paginator("scan").paginate(TableName=self.table)
                for item in page["Items"]]
