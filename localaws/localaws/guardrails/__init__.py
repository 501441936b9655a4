"""Guardrail services for local AWS, as their API references document them, where moto 5.2.5
falls short: GuardDuty (one detector per account and Region), Security Hub (already-subscribed
conflict, default standards, security standards and their subscriptions) and Macie (off until
enabled, already-enabled conflict, UpdateMacieSession).

Layout, as moto's services: ``urls`` (which requests: SigV4 service, method and path), ``responses``
(the WSGI extension and its REST-JSON answers), ``exceptions``, and one module per service with its
operations and state. Everything not routed here is moto's; state sits on moto's own
backends so moto's reset forgets it.
"""

from .responses import GuardrailServicesExtension
from .urls import ROUTES

__all__ = ["ROUTES", "GuardrailServicesExtension"]
