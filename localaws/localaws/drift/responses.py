"""The drift operations' WSGI face: DetectStackDrift, DescribeStackDriftDetectionStatus,
DescribeStackResourceDrifts and DetectStackResourceDrift (query protocol, XML answers).

Detection runs when DetectStackDrift is called (moto's stacks are synchronous); the status reads
DETECTION_IN_PROGRESS for the first ``DriftExtension.polls_in_progress`` polls (default 0), so
pollers can be tested against the real state machine.
"""

from __future__ import annotations

import threading
import uuid
from collections import OrderedDict
from datetime import datetime
from typing import Any
from xml.sax.saxutils import escape

from localaws import request
from localaws.drift import urls
from localaws.drift.compare import check_resource
from localaws.drift.exceptions import ValidationError
from localaws.drift.models import created_resources, resource_drifts, resource_type, stack_named, utcnow
from localaws.drift.readers import READERS

NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
MAX_DETECTIONS = 10_000  # detection records kept for DescribeStackDriftDetectionStatus (oldest dropped)


class DriftExtension:
    """Serves the drift operations; everything else CloudFormation goes on to moto."""

    polls_in_progress = 0  # tests: DescribeStackDriftDetectionStatus says IN_PROGRESS this many times

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detections: OrderedDict[str, dict] = OrderedDict()

    def matches(self, environ: dict[str, Any]) -> bool:
        return urls.action_of(environ) is not None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        params = request.query_params(environ)
        caller = request.caller(environ)
        action = params["Action"]
        try:
            handler = getattr(self, _snake(action))
            result = handler(caller.account, caller.region, params)
        except ValidationError as exc:
            body = (f'<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>ValidationError</Code>'
                    f"<Message>{escape(str(exc))}</Message></Error><RequestId>{uuid.uuid4()}</RequestId>"
                    "</ErrorResponse>").encode()
            start_response("400 Bad Request", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
            return [body]
        body = (f'<{action}Response xmlns="{NS}"><{action}Result>{result}</{action}Result>'
                f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata></{action}Response>"
                ).encode()
        start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
        return [body]

    # -- operations ----------------------------------------------------------------------------
    def detect_stack_drift(self, account: str, region: str, params: dict) -> str:
        stack = stack_named(account, region, params.get("StackName", ""))
        created = created_resources(stack)
        wanted = request.members(params, "LogicalResourceIds")
        for logical_id in wanted:
            if logical_id not in created:
                raise ValidationError(f"Resource {logical_id} does not exist for stack {stack.name}")
        now = utcnow()
        checked = {}
        for logical_id in stack.template_dict.get("Resources", {}):
            if created.get(logical_id) is None or (wanted and logical_id not in wanted):
                continue  # a resource whose condition was false was never made: not listed
            if resource_type(stack, logical_id) in READERS:
                checked[logical_id] = check_resource(account, region, stack, logical_id, created[logical_id], now)
        drifted = sum(d["StackResourceDriftStatus"] in {"MODIFIED", "DELETED"} for d in checked.values())
        detection_id = str(uuid.uuid4())
        record = {"account": account, "region": region, "stack": stack, "checked": checked,
                  "polls_left": self.polls_in_progress, "committed": False,
                  "fields": {"StackId": stack.stack_id, "StackDriftDetectionId": detection_id,
                             "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC",
                             "DetectionStatus": "DETECTION_COMPLETE", "DriftedStackResourceCount": drifted,
                             "Timestamp": now}}
        with self._lock:
            self._detections[detection_id] = record
            while len(self._detections) > MAX_DETECTIONS:
                self._detections.popitem(last=False)
            if record["polls_left"] <= 0:
                self._commit(record)
        return f"<StackDriftDetectionId>{detection_id}</StackDriftDetectionId>"

    def describe_stack_drift_detection_status(self, account: str, region: str, params: dict) -> str:
        detection_id = params.get("StackDriftDetectionId", "")
        with self._lock:
            record = self._detections.get(detection_id)
            if record is None or (record["account"], record["region"]) != (account, region):
                raise ValidationError(f"Drift detection with id {detection_id} does not exist")
            if record["polls_left"] > 0:
                record["polls_left"] -= 1
                f = record["fields"]
                return _fields({"StackId": f["StackId"], "StackDriftDetectionId": detection_id,
                                "DetectionStatus": "DETECTION_IN_PROGRESS", "Timestamp": f["Timestamp"]})
            self._commit(record)
            return _fields(record["fields"])

    def describe_stack_resource_drifts(self, account: str, region: str, params: dict) -> str:
        stack = stack_named(account, region, params.get("StackName", ""), deleted_ok=True)
        wanted = set(request.members(params, "StackResourceDriftStatusFilters"))
        bad = wanted - {"IN_SYNC", "MODIFIED", "DELETED", "NOT_CHECKED", "UNKNOWN", "UNSUPPORTED"}
        if bad:
            raise ValidationError(f"Invalid StackResourceDriftStatusFilters: {', '.join(sorted(bad))}")
        with self._lock:
            drifts = list(resource_drifts(stack).values())
        if wanted:
            drifts = [d for d in drifts if d["StackResourceDriftStatus"] in wanted]
        try:
            start = int(params.get("NextToken") or 0)
            limit = int(params.get("MaxResults") or 100)
        except ValueError:
            raise ValidationError("Invalid NextToken or MaxResults") from None
        if not 1 <= limit <= 100:
            raise ValidationError("MaxResults must be between 1 and 100")
        page = drifts[start:start + limit]
        token = f"<NextToken>{start + limit}</NextToken>" if start + limit < len(drifts) else ""
        return "<StackResourceDrifts>" + "".join(_member(d) for d in page) + "</StackResourceDrifts>" + token

    def detect_stack_resource_drift(self, account: str, region: str, params: dict) -> str:
        stack = stack_named(account, region, params.get("StackName", ""))
        logical_id = params.get("LogicalResourceId", "")
        model = created_resources(stack).get(logical_id)
        if model is None or logical_id not in stack.template_dict.get("Resources", {}):
            raise ValidationError(f"Resource {logical_id} does not exist for stack {stack.name}")
        rtype = resource_type(stack, logical_id)
        if rtype not in READERS:
            raise ValidationError(f"Drift detection is not supported for resource type {rtype}")
        drift = check_resource(account, region, stack, logical_id, model, utcnow())
        with self._lock:
            # The resource's own drift information moves on; the stack's status waits for a stack check.
            resource_drifts(stack)[logical_id] = drift
        return "<StackResourceDrift>" + _member(drift, wrap=False) + "</StackResourceDrift>"

    def _commit(self, record: dict) -> None:
        """A finished detection becomes the stack's drift information (callers hold the lock)."""
        if record["committed"]:
            return
        record["committed"] = True
        stack, fields = record["stack"], record["fields"]
        state = resource_drifts(stack)
        state.update(record["checked"])
        stack.drift_information = {"StackDriftStatus": fields["StackDriftStatus"],
                                   "LastCheckTimestamp": fields["Timestamp"]}


def _snake(action: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")


def iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _fields(d: dict) -> str:
    return "".join(f"<{k}>{escape(iso(v) if isinstance(v, datetime) else str(v))}</{k}>" for k, v in d.items())


def _member(d: dict, wrap: bool = True) -> str:
    parts = []
    for k, v in d.items():
        if k == "PropertyDifferences":
            inner = "".join("<member>" + _fields(p) + "</member>" for p in v)
            parts.append(f"<PropertyDifferences>{inner}</PropertyDifferences>")
        else:
            parts.append(_fields({k: v}))
    return "<member>" + "".join(parts) + "</member>" if wrap else "".join(parts)
