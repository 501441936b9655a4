"""The one place that lists the extensions local AWS serves in front of moto.

An extension is any object with

    matches(environ) -> bool              # is this request mine?
    __call__(environ, start_response)      # a WSGI app that answers it

The middleware in ``localaws.server`` asks each extension in order; the first that matches
answers, and everything else falls through to moto. ``matches`` must not consume the request
body: an extension that needs the body to decide uses ``peek_body``, which puts it back.
"""

from __future__ import annotations

import io
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Extension(Protocol):
    def matches(self, environ: dict[str, Any]) -> bool: ...

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any: ...


def peek_body(environ: dict[str, Any]) -> bytes:
    """Read the request body once and leave a fresh stream behind for whoever answers."""
    cached = environ.get("localaws.body")
    if cached is not None:
        return cached
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["localaws.body"] = body
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def _optional(module: str, attribute: str) -> Any | None:
    """Import an extension class whose module may not be written yet.

    A missing module (or one not yet exporting `attribute`, while it is being written) is
    tolerated with a warning; an extension that exists but fails to import is a bug that must
    surface, not a silently absent service.
    """
    import importlib
    import logging

    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name == module:
            return None
        raise
    found = getattr(mod, attribute, None)
    if found is None:
        logging.getLogger("localaws").warning("%s has no %s yet: not served", module, attribute)
    return found


def default_extensions() -> list[Extension]:
    """The extensions every LocalAws serves, in the order they are asked."""
    extensions: list[Extension] = []
    from localaws.behaviour import ProfileExtension

    extensions.append(ProfileExtension())  # first: a throttled request is answered before any service
    service_catalog = _optional("localaws.servicecatalog", "ServiceCatalogExtension")
    if service_catalog is not None:
        extensions.append(service_catalog())
    from localaws.drift import DriftExtension
    from localaws.unsupported import UnsupportedServiceExtension

    extensions.append(DriftExtension())
    from localaws.guardrails import GuardrailServicesExtension

    extensions.append(GuardrailServicesExtension())  # GuardDuty, Security Hub, Macie

    extensions.append(UnsupportedServiceExtension())  # last: it claims only what nothing else serves
    return extensions
