"""Which requests the drift extension answers: a CloudFormation query-protocol POST whose Action is
one of the drift operations moto lacks."""

from __future__ import annotations

from typing import Any

from localaws import request

ACTIONS = {"DetectStackDrift", "DescribeStackDriftDetectionStatus", "DescribeStackResourceDrifts",
           "DetectStackResourceDrift"}


def action_of(environ: dict[str, Any]) -> str | None:
    """The drift operation a request calls, or None."""
    if environ.get("REQUEST_METHOD") != "POST" or request.signed_service(environ) != "cloudformation":
        return None
    action = request.query_params(environ).get("Action")
    return action if action in ACTIONS else None
