"""The Airflow pools that hold organization-wide limits (DESIGN: limits live in pools and config).

One table, read by the DAGs (``pool=``), by ``make demo``/``make up``/docker-compose's init (which
create them) and by the tests that keep those in step. Slots are defaults: raise them with
``airflow pools set`` where your quotas are higher.
"""

from __future__ import annotations

from dataclasses import dataclass

PROD_ROLLOUT = "fleet_prod_rollout"
ACCOUNT_OPS = "fleet_account_ops"


@dataclass(frozen=True)
class Pool:
    name: str
    slots: int
    description: str
    include_deferred: bool = False


POOLS = (
    Pool(PROD_ROLLOUT, 1, "prod rollouts at once"),
    # Control Tower runs 5 account operations at once by default (10 at most); Organizations
    # throttles concurrent CreateAccount. A deferred readiness wait still occupies an account
    # operation, so it keeps its slot (include_deferred) while it waits in the triggerer.
    Pool(ACCOUNT_OPS, 5, "account operations at once (Control Tower's default)", include_deferred=True),
)


def cli_args(pool: Pool) -> list[str]:
    """``airflow pools set`` arguments that create or update ``pool``."""
    return ["pools", "set", pool.name, str(pool.slots), pool.description,
            *(["--include-deferred"] if pool.include_deferred else [])]
