"""Assets the fleet DAGs produce and consume."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by account_vending when accounts are ready and set up; the event's extra lists them
# ({"accounts": [{"name", "id", "email", "ou"}]}). account_fleet_pipeline is scheduled on it, so a
# new account gets the fleet's baselines without waiting for the next weekday rollout.
VENDED_ACCOUNTS = Asset(name="fleet_vended_accounts", uri="fleet://accounts/vended", group="fleet")


def vended_account_ids(events) -> list[str]:
    """Account ids from the fleet_vended_accounts events that triggered a run (none for a cron run)."""
    found: list[str] = []
    for event in (events or {}).get(VENDED_ACCOUNTS, []) if events else []:
        found += [a["id"] for a in (event.extra or {}).get("accounts", []) if a.get("id")]
    return list(dict.fromkeys(found))
