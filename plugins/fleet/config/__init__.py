"""The fleet config (include/fleet.yaml): its typed model, its JSON Schema and its loader.

``fleet/schemas/fleet.schema.json`` declares every key, type and allowed value (editors validate
fleet.yaml with it as people type); ``rules`` holds what a schema cannot say (references between
sections, waves, files on disk); ``load`` runs both and builds the ``FleetConfig`` dataclasses.
"""

from fleet.config.load import account_requests, load_config
from fleet.config.model import (
    OU, Account, Alerts, Approval, Approver, Baseline, Catalog, Environments, FleetConfig, Guardrails, Organization,
    Override, Policies, ProdTargets, Product, SmokeTest, Vending, Wave,
)
from fleet.config.problems import ConfigError, Problem, line_index

__all__ = [
    "OU", "Account", "Alerts", "Approval", "Approver", "Baseline", "Catalog", "ConfigError", "Environments", "FleetConfig",
    "Guardrails", "Organization", "Override", "Policies", "Problem", "ProdTargets", "Product", "SmokeTest", "Vending", "Wave",
    "account_requests",
    "line_index", "load_config",
]
