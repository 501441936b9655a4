"""The one place that lists the extensions local AWS serves in front of moto.

An extension is any object with

    matches(environ) -> bool              # is this request mine?
    __call__(environ, start_response)      # a WSGI app that answers it

The middleware in ``localaws.server`` asks each extension in order; the first that matches
answers, and everything else falls through to moto. ``matches`` must not consume the request
body: an extension that needs the body to decide reads it with ``localaws.request``, which puts
it back.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Extension(Protocol):
    def matches(self, environ: dict[str, Any]) -> bool: ...

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any: ...


def default_extensions() -> list[Extension]:
    """The extensions every LocalAws serves, in the order they are asked."""
    # Imported here: each pulls in moto's models, which `import localaws.extensions` should not pay for.
    from localaws.behaviour import ProfileExtension
    from localaws.drift import DriftExtension
    from localaws.guardrails import GuardrailServicesExtension
    from localaws.servicecatalog import ServiceCatalogExtension
    from localaws.unsupported import UnsupportedServiceExtension

    return [
        ProfileExtension(),  # first: a throttled request is answered before any service
        ServiceCatalogExtension(),
        DriftExtension(),
        GuardrailServicesExtension(),  # GuardDuty, Security Hub, Macie
        UnsupportedServiceExtension(),  # last: it claims only what nothing else serves
    ]
