"""GuardDuty CreateDetector, which moto 5.2.5 answers with a second detector.

API reference (CreateDetector): "You can have only one detector per account per Region." A second
CreateDetector is rejected with ``BadRequestException`` (HTTP 400), message "The request is
rejected because a detector already exists for the current account." moto creates another
detector instead; here the check and the creation happen under one lock so two concurrent
calls cannot both create one. Every other GuardDuty operation is moto's.
"""

from __future__ import annotations

import threading
from typing import Any

from .exceptions import ServiceError

ALREADY_EXISTS = "The request is rejected because a detector already exists for the current account."
_FREQUENCIES = {"FIFTEEN_MINUTES", "ONE_HOUR", "SIX_HOURS"}
_lock = threading.Lock()


def bad_request(message: str) -> ServiceError:
    # GuardDuty answers BadRequestException in x-amzn-ErrorType (what botocore reports) with
    # an InvalidInputException __type in the body, as moto's own GuardDuty errors do.
    return ServiceError(400, "BadRequestException", message,
                        {"message": message, "__type": "InvalidInputException", "type": "InvalidInputException"})


def create_detector(account: str, region: str, partition: str, params: dict[str, Any]) -> dict[str, Any]:
    from moto.guardduty.models import guardduty_backends

    if not isinstance(params.get("enable"), bool):
        raise bad_request("The request is rejected because the enable parameter is missing or invalid.")
    frequency = params.get("findingPublishingFrequency")
    if frequency is not None and frequency not in _FREQUENCIES:
        raise bad_request(f"The request is rejected because findingPublishingFrequency {frequency} is invalid.")
    with _lock:
        backend = guardduty_backends[account][region]
        if backend.detectors:
            raise bad_request(ALREADY_EXISTS)
        detector_id = backend.create_detector(
            params["enable"], frequency or "SIX_HOURS", params.get("dataSources"),
            params.get("tags") or {}, params.get("features"))
    return {"detectorId": detector_id}
