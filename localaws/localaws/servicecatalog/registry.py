"""Operation registry and the small request helpers every handler shares."""

from __future__ import annotations

from typing import Any, Callable

from localaws.request import Caller

from .exceptions import InvalidParametersException
from .models import Catalog

Handler = Callable[[Catalog, Caller, dict[str, Any]], dict[str, Any]]
OPERATIONS: dict[str, Handler] = {}


def operation(name: str, locked: bool = True) -> Callable[[Handler], Handler]:
    """Register a handler.  ``locked`` handlers run wholly under the catalog lock; the others
    (stack operations) take it themselves around their catalog reads and writes."""

    def register(handler: Handler) -> Handler:
        handler.locked = locked  # type: ignore[attr-defined]
        OPERATIONS[name] = handler
        return handler

    return register


def required(params: dict[str, Any], *names: str) -> None:
    for name in names:
        if params.get(name) in (None, ""):
            raise InvalidParametersException(f"Missing required parameter: {name}")


def paginate(
    items: list[Any], params: dict[str, Any], key: str, next_key: str = "NextPageToken", default_size: int = 20
) -> dict[str, Any]:
    """PageToken / PageSize paging; the token is an opaque offset."""
    token = params.get("PageToken")
    try:
        start = int(token) if token else 0
        size = int(params.get("PageSize") or default_size)
    except ValueError as exc:
        raise InvalidParametersException("Invalid PageToken or PageSize.") from exc
    if size < 0 or size > 100 or start < 0:
        raise InvalidParametersException("PageSize must be between 0 and 100.")
    size = size or default_size
    page = items[start : start + size]
    out: dict[str, Any] = {key: page}
    if start + size < len(items):
        out[next_key] = str(start + size)
    return out


def tags_from(params_tags: list[dict[str, str]] | None) -> dict[str, str]:
    tags: dict[str, str] = {}
    for tag in params_tags or []:
        if "Key" not in tag or "Value" not in tag:
            raise InvalidParametersException("Tags need a Key and a Value.")
        tags[tag["Key"]] = tag["Value"]
    if len(tags) > 20:
        raise InvalidParametersException("A resource can have at most 20 tags.")
    return tags
