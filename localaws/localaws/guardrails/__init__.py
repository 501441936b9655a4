"""Guardrail services for local AWS, as their API references document them, where moto 5.2.5
falls short: GuardDuty (one detector per account and Region), Security Hub (already-subscribed
conflict, default standards, security standards and their subscriptions) and Macie (off until
enabled, already-enabled conflict, UpdateMacieSession).

Layout: ``extension`` (routing by SigV4 service, method and path), ``wire`` (REST-JSON answers and
errors), one module per service. Everything not routed here is moto's; state sits on moto's own
backends so moto's reset forgets it.
"""

from .extension import ROUTES, GuardrailServicesExtension

__all__ = ["ROUTES", "GuardrailServicesExtension"]
