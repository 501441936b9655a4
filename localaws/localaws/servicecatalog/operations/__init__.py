"""Operation handlers, one module per area of the API; importing them fills the registry."""

from . import constraints, portfolios, products, provisioning, sharing, tagoptions  # noqa: F401
