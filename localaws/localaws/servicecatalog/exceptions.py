"""Service Catalog error codes, as the API reference lists them per operation.

Every error is a JSON 1.1 error document ``{"__type": <code>, "message": ...}`` with HTTP 400;
botocore maps ``__type`` onto ``client.exceptions.<code>``.
"""

from __future__ import annotations


class ServiceCatalogError(Exception):
    code = "InvalidParametersException"
    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ResourceNotFoundException(ServiceCatalogError):
    code = "ResourceNotFoundException"


class InvalidParametersException(ServiceCatalogError):
    code = "InvalidParametersException"


class DuplicateResourceException(ServiceCatalogError):
    code = "DuplicateResourceException"


class LimitExceededException(ServiceCatalogError):
    code = "LimitExceededException"


class InvalidStateException(ServiceCatalogError):
    code = "InvalidStateException"


class ResourceInUseException(ServiceCatalogError):
    code = "ResourceInUseException"


class OperationNotSupportedException(ServiceCatalogError):
    code = "OperationNotSupportedException"
