"""CloudFormation drift detection, which moto lacks: DetectStackDrift,
DescribeStackDriftDetectionStatus and DescribeStackResourceDrifts (CloudFormation API reference).

As on AWS, only the properties the template sets are compared (a default the template leaves out
is not drift), types without drift support are NOT_CHECKED, and a resource gone from its service
is DELETED. The live side is read from moto's service backends, the expected side from the
stack's template resolved against its resources (parameters, Ref, GetAtt), as CloudFormation does.
Detection completes at once: moto's stacks are synchronous, and the API's polling still works.
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from localaws.extensions import peek_body

ACTIONS = {"DetectStackDrift", "DescribeStackDriftDetectionStatus", "DescribeStackResourceDrifts"}
NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"


def _norm(value: Any) -> Any:
    """CloudFormation compares property values as their JSON text: True and "true" are equal."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, dict):
        return {k: _norm(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_norm(v) for v in value]
    return value


def differences(expected: Any, actual: Any, path: str = "") -> list[dict]:
    """PropertyDifferences for the properties ``expected`` sets (AWS ignores what it leaves out)."""
    if isinstance(expected, dict):
        out = []
        actual = actual if isinstance(actual, dict) else {}
        for key, value in expected.items():
            if key not in actual or actual[key] is None:
                out.append({"PropertyPath": f"{path}/{key}", "ExpectedValue": json.dumps(value),
                            "ActualValue": "null", "DifferenceType": "REMOVE"})
            else:
                out += differences(value, actual[key], f"{path}/{key}")
        return out
    if isinstance(expected, list):
        actual = actual if isinstance(actual, list) else []
        out = []
        for i, value in enumerate(expected):
            if i >= len(actual):
                out.append({"PropertyPath": f"{path}/{i}", "ExpectedValue": json.dumps(value),
                            "ActualValue": "null", "DifferenceType": "REMOVE"})
            else:
                out += differences(value, actual[i], f"{path}/{i}")
        out += [{"PropertyPath": f"{path}/{i}", "ExpectedValue": "null", "ActualValue": json.dumps(v),
                 "DifferenceType": "ADD"} for i, v in enumerate(actual[len(expected):], len(expected))]
        return out
    if _norm(expected) != _norm(actual):
        return [{"PropertyPath": path, "ExpectedValue": str(_norm(expected)), "ActualValue": str(_norm(actual)),
                 "DifferenceType": "NOT_EQUAL"}]
    return []


# -- live properties, per resource type, in the template's shape -------------------------------
def _s3_bucket(account: str, region: str, physical_id: str) -> dict | None:
    from moto.s3.models import s3_backends

    backend = s3_backends[account]["aws"]
    bucket = backend.buckets.get(physical_id)
    if bucket is None:
        return None
    live: dict[str, Any] = {}
    if bucket.encryption:
        rules = bucket.encryption.get("Rule")
        rules = rules if isinstance(rules, list) else [rules]
        live["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": dict(r.get("ApplyServerSideEncryptionByDefault") or {}),
             **({"BucketKeyEnabled": r["BucketKeyEnabled"]} if "BucketKeyEnabled" in r else {})}
            for r in rules if r]}
    if bucket.versioning_status:
        live["VersioningConfiguration"] = {"Status": bucket.versioning_status}
    pab = bucket.public_access_block
    if pab is not None:
        live["PublicAccessBlockConfiguration"] = {
            "BlockPublicAcls": pab.block_public_acls, "IgnorePublicAcls": pab.ignore_public_acls,
            "BlockPublicPolicy": pab.block_public_policy, "RestrictPublicBuckets": pab.restrict_public_buckets}
    return live


def _kms_key(account: str, region: str, physical_id: str) -> dict | None:
    from moto.kms.models import kms_backends

    key = kms_backends[account][region].keys.get(physical_id.rsplit("/", 1)[-1])
    if key is None or key.key_state == "PendingDeletion":
        return None
    return {"EnableKeyRotation": key.key_rotation_status, "Description": key.description}


def _sns_topic(account: str, region: str, physical_id: str) -> dict | None:
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(physical_id)
    if topic is None:
        return None
    return {"TopicName": topic.name, "KmsMasterKeyId": topic.kms_master_key_id}


def _iam_role(account: str, region: str, physical_id: str) -> dict | None:
    from moto.iam.models import iam_backends

    backend = iam_backends[account]["aws"]
    role = next((r for r in backend.roles.values() if r.name == physical_id), None)
    if role is None:
        return None
    trust = role.assume_role_policy_document
    return {"RoleName": role.name, "Description": role.description,
            "AssumeRolePolicyDocument": json.loads(trust) if isinstance(trust, str) else trust}


READERS = {"AWS::S3::Bucket": _s3_bucket, "AWS::KMS::Key": _kms_key, "AWS::SNS::Topic": _sns_topic,
           "AWS::IAM::Role": _iam_role}
# The properties each reader can see; others the template sets are not compared (as if unsupported).
COMPARED = {"AWS::S3::Bucket": {"BucketEncryption", "VersioningConfiguration", "PublicAccessBlockConfiguration"},
            "AWS::KMS::Key": {"EnableKeyRotation", "Description"},
            "AWS::SNS::Topic": {"TopicName", "KmsMasterKeyId"},
            "AWS::IAM::Role": {"RoleName", "Description", "AssumeRolePolicyDocument"}}


class DriftExtension:
    """Serves the three drift operations; everything else CloudFormation goes on to moto."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detections: dict[str, dict] = {}
        self._resource_drifts: dict[str, list[dict]] = {}  # stack id -> last detection's resources

    def matches(self, environ: dict[str, Any]) -> bool:
        if environ.get("REQUEST_METHOD") != "POST" or "/cloudformation/" not in environ.get("HTTP_AUTHORIZATION", ""):
            return False
        return _params(environ).get("Action") in ACTIONS

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        from localaws.servicecatalog.caller import caller_from_environ

        params = _params(environ)
        caller = caller_from_environ(environ)
        action = params["Action"]
        try:
            if action == "DetectStackDrift":
                result = self.detect(caller.account, caller.region, params.get("StackName", ""))
            elif action == "DescribeStackDriftDetectionStatus":
                result = self.status(params.get("StackDriftDetectionId", ""))
            else:
                result = self.resource_drifts(caller.account, caller.region, params)
        except _ValidationError as exc:
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

    # -- operations ------------------------------------------------------------------------
    def detect(self, account: str, region: str, stack_name: str) -> str:
        stack = _stack(account, region, stack_name)
        now = _now()
        created = _created(stack)  # resources whose condition was false were never made: not listed
        drifts = [self._resource_drift(account, region, stack, created[logical_id], logical_id, now)
                  for logical_id in stack.template_dict.get("Resources", {}) if created.get(logical_id) is not None]
        drifted = sum(d["StackResourceDriftStatus"] in {"MODIFIED", "DELETED"} for d in drifts)
        detection_id = str(uuid.uuid4())
        with self._lock:
            self._resource_drifts[stack.stack_id] = drifts
            self._detections[detection_id] = {
                "StackId": stack.stack_id, "StackDriftDetectionId": detection_id,
                "StackDriftStatus": "DRIFTED" if drifted else "IN_SYNC", "DetectionStatus": "DETECTION_COMPLETE",
                "DriftedStackResourceCount": drifted, "Timestamp": now}
        return f"<StackDriftDetectionId>{detection_id}</StackDriftDetectionId>"

    def status(self, detection_id: str) -> str:
        with self._lock:
            found = self._detections.get(detection_id)
        if found is None:
            raise _ValidationError(f"Could not find drift detection with id {detection_id}")
        return "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in found.items())

    def resource_drifts(self, account: str, region: str, params: dict) -> str:
        stack = _stack(account, region, params.get("StackName", ""))
        wanted = {v for k, v in params.items() if k.startswith("StackResourceDriftStatusFilters.member.")}
        with self._lock:
            drifts = list(self._resource_drifts.get(stack.stack_id, []))
        if wanted:
            drifts = [d for d in drifts if d["StackResourceDriftStatus"] in wanted]
        return "<StackResourceDrifts>" + "".join(_member(d) for d in drifts) + "</StackResourceDrifts>"

    def _resource_drift(self, account: str, region: str, stack, model, logical_id: str, now: str) -> dict:
        from moto.cloudformation.parsing import clean_json

        resource_json = stack.template_dict["Resources"][logical_id]
        rtype = resource_json.get("Type", "")
        physical_id = getattr(model, "physical_resource_id", None) or ""
        drift = {"StackId": stack.stack_id, "LogicalResourceId": logical_id, "PhysicalResourceId": physical_id,
                 "ResourceType": rtype, "Timestamp": now}
        reader = READERS.get(rtype)
        if reader is None:
            return {**drift, "StackResourceDriftStatus": "NOT_CHECKED"}
        expected = clean_json(resource_json.get("Properties", {}), stack.resource_map)
        expected = {k: v for k, v in expected.items() if k in COMPARED[rtype]}
        live = reader(account, region, physical_id)
        if live is None:
            return {**drift, "StackResourceDriftStatus": "DELETED", "ExpectedProperties": json.dumps(expected)}
        actual = {k: v for k, v in live.items() if k in expected}
        diffs = differences(expected, actual)
        return {**drift, "StackResourceDriftStatus": "MODIFIED" if diffs else "IN_SYNC",
                "ExpectedProperties": json.dumps(expected, sort_keys=True, default=str),
                "ActualProperties": json.dumps(actual, sort_keys=True, default=str), "PropertyDifferences": diffs}


class _ValidationError(Exception):
    pass


def _params(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(peek_body(environ).decode("utf-8", "replace")).items()}


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _stack(account: str, region: str, name: str):
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in backend.stacks.values():
        if (stack.name == name or stack.stack_id == name) and stack.status != "DELETE_COMPLETE":
            return stack
    raise _ValidationError(f"Stack with id {name} does not exist")


def _created(stack) -> dict[str, Any]:
    # Read what moto already made; indexing the ResourceMap itself would create what is missing.
    return dict(getattr(stack.resource_map, "_parsed_resources", {}))


def _member(d: dict) -> str:
    parts = []
    for k, v in d.items():
        if k == "PropertyDifferences":
            inner = "".join("<member>" + "".join(f"<{pk}>{escape(str(pv))}</{pk}>" for pk, pv in p.items())
                            + "</member>" for p in v)
            parts.append(f"<PropertyDifferences>{inner}</PropertyDifferences>")
        else:
            parts.append(f"<{k}>{escape(str(v))}</{k}>")
    return "<member>" + "".join(parts) + "</member>"
