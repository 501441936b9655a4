"""Assets the fleet DAGs produce and consume."""

from __future__ import annotations

from airflow.sdk import Asset

# Updated by account_vending when accounts are ready and set up; the event's extra lists them
# ({"accounts": [{"name", "id", "email", "ou"}]}). account_fleet_pipeline is scheduled on it, so a
# new account gets the fleet's baselines without waiting for the next weekday rollout.
VENDED_ACCOUNTS = Asset(name="fleet_vended_accounts", uri="fleet://accounts/vended", group="fleet")
