"""Canary health gates checked while Gamma bakes: alarms and new Security Hub findings.

A canary that looks fine when its stack completes may not be fine ten minutes later. The bake
polls these gates for the configured time; the first breach ends the bake and rolls the canaries
back, so a bad bundle never reaches the prod approval.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fleet.aws import AwsContext, error_code

BREACH_SEVERITIES = ["HIGH", "CRITICAL"]


def firing_alarms(ctx: AwsContext, account_id: str, region: str) -> list[str]:
    cw = ctx.client("cloudwatch", account_id, region)
    return [a["AlarmName"] for page in cw.get_paginator("describe_alarms").paginate(StateValue="ALARM")
            for a in page.get("MetricAlarms", []) + page.get("CompositeAlarms", [])]


def new_findings(ctx: AwsContext, account_id: str, region: str, since: datetime) -> list[str] | None:
    """Titles of HIGH/CRITICAL active findings created since ``since``; None when Security Hub is off."""
    hub = ctx.client("securityhub", account_id, region)
    filters = {"CreatedAt": [{"Start": since.isoformat(), "End": "2999-01-01T00:00:00Z"}],
               "SeverityLabel": [{"Value": s, "Comparison": "EQUALS"} for s in BREACH_SEVERITIES],
               "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}]}
    try:
        pages = hub.get_paginator("get_findings").paginate(Filters=filters)
        return [f.get("Title", f.get("Id", "?")) for page in pages for f in page.get("Findings", [])]
    except Exception as exc:
        if error_code(exc) in {"InvalidAccessException", "AccessDeniedException"}:
            return None
        raise


def check(ctx: AwsContext, canaries: list[dict], since: datetime) -> list[str]:
    """Every breach across the canaries, as one line each; empty when all are healthy."""
    breaches = []
    for c in canaries:
        where = f"{c['account_name']}/{c['region']}"
        breaches += [f"{where}: alarm {name} in ALARM" for name in firing_alarms(ctx, c["account_id"], c["region"])]
        found = new_findings(ctx, c["account_id"], c["region"], since)
        breaches += [f"{where}: new Security Hub finding: {title}" for title in found or []]
    return breaches


def bake_status(ctx: AwsContext, canaries: list[dict], started_at: str, bake_minutes: float,
                now: datetime | None = None) -> dict | None:
    """``{"state": "breach", ...}`` at the first breach, ``{"state": "done"}`` once baked, else None."""
    since = datetime.fromisoformat(started_at)
    now = now or datetime.now(timezone.utc)
    breaches = check(ctx, canaries, since)
    if breaches:
        return {"state": "breach", "breaches": breaches}
    if now - since >= timedelta(minutes=bake_minutes):
        return {"state": "done", "baked_minutes": bake_minutes}
    return None
