"""CloudFormation drift detection, which moto lacks (AWS CloudFormation API reference):
DetectStackDrift, DescribeStackDriftDetectionStatus, DescribeStackResourceDrifts and
DetectStackResourceDrift as an extension; DriftInformation on DescribeStacks / ListStacks /
DescribeStackResource(s) / ListStackResources as patches of moto's models (``PATCHES``).

As on AWS:
- only the properties the template sets are compared (a default the template leaves out is not
  drift); the expected side is the stack's template resolved against its parameters and resources
  (Ref, GetAtt, Sub, If), as CloudFormation resolves it;
- a resource gone from its service is DELETED (no Expected/ActualProperties then);
- types without drift support are not checked: DescribeStackResourceDrifts leaves them out, and
  DescribeStackResources shows them NOT_CHECKED; DetectStackResourceDrift refuses them;
- PropertyDifferences carry a JSON-pointer PropertyPath and ADD / REMOVE / NOT_EQUAL;
- list properties AWS treats as unordered (Tags, IAM policy lists) are compared regardless of
  order, policy documents by meaning (``"s3:*"`` equals ``["s3:*"]``), ``aws:`` tags are ignored.

Local differences (documented in the README): the supported types and properties are the ones our
baselines use (``COMPARED``); other properties a template sets on a supported type are not compared.
Detection runs when DetectStackDrift is called (moto's stacks are synchronous); the status reads
DETECTION_IN_PROGRESS for the first ``DriftExtension.polls_in_progress`` polls (default 0), so
pollers can be tested against the real state machine.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections import OrderedDict
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

from localaws.extensions import peek_body

ACTIONS = {"DetectStackDrift", "DescribeStackDriftDetectionStatus", "DescribeStackResourceDrifts",
           "DetectStackResourceDrift"}
NS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"
MAX_DETECTIONS = 10_000  # detection records kept for DescribeStackDriftDetectionStatus (oldest dropped)
_STATE = "localaws_resource_drifts"  # attribute on moto's Stack: logical id -> last StackResourceDrift


# -- comparison ----------------------------------------------------------------------------------
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


def _text(value: Any) -> str:
    """ExpectedValue / ActualValue: a scalar as itself, a structure as JSON."""
    value = _norm(value)
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def differences(expected: Any, actual: Any, path: str = "") -> list[dict]:
    """PropertyDifferences for the properties ``expected`` sets (AWS ignores what it leaves out)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [_diff(path, expected, actual, "NOT_EQUAL")]
        out = []
        for key, value in expected.items():
            if actual.get(key) is None:
                out.append(_diff(f"{path}/{key}", value, None, "REMOVE"))
            else:
                out += differences(value, actual[key], f"{path}/{key}")
        return out
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [_diff(path, expected, actual, "NOT_EQUAL")]
        key = KEYED_LISTS.get(path)
        if key and all(isinstance(v, dict) and key in v for v in expected + actual):
            return _keyed_differences(expected, actual, path, key)
        out = []
        for i, value in enumerate(expected):
            if i >= len(actual):
                out.append(_diff(f"{path}/{i}", value, None, "REMOVE"))
            else:
                out += differences(value, actual[i], f"{path}/{i}")
        out += [_diff(f"{path}/{i}", None, v, "ADD") for i, v in enumerate(actual[len(expected):], len(expected))]
        return out
    if _norm(expected) != _norm(actual):
        return [_diff(path, expected, actual, "NOT_EQUAL")]
    return []


# Top-level list properties whose items are matched by a key, not by position (their order is
# not significant: the resource schemas say insertionOrder false).
KEYED_LISTS = {"/Tags": "Key", "/Policies": "PolicyName"}


def _keyed_differences(expected: list, actual: list, path: str, key: str) -> list[dict]:
    by_key = {v[key]: v for v in actual}
    out = []
    for i, value in enumerate(expected):
        live = by_key.pop(value[key], None)
        out += [_diff(f"{path}/{i}", value, None, "REMOVE")] if live is None else differences(value, live, f"{path}/{i}")
    extra = [v for v in actual if v[key] in by_key]  # numbered after the expected items, as positional ADDs are
    return out + [_diff(f"{path}/{i}", None, v, "ADD") for i, v in enumerate(extra, len(expected))]


def _diff(path: str, expected: Any, actual: Any, kind: str) -> dict:
    return {"PropertyPath": path, "ExpectedValue": "null" if expected is None else _text(expected),
            "ActualValue": "null" if actual is None else _text(actual), "DifferenceType": kind}


_POLICY_LISTS = ("Action", "NotAction", "Resource", "NotResource")


def policy(document: Any) -> Any:
    """A policy document in one canonical form, so equal policies compare equal: parsed from JSON,
    Statement a list, single strings as one-element lists, value lists sorted."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError:
            return document
    if not isinstance(document, dict):
        return document
    doc = dict(document)
    statements = doc.get("Statement")
    if isinstance(statements, dict):
        statements = [statements]
    if isinstance(statements, list):
        doc["Statement"] = [_statement(s) for s in statements]
    return doc


def _statement(s: Any) -> Any:
    if not isinstance(s, dict):
        return s
    s = dict(s)
    for key in _POLICY_LISTS:
        if key in s:
            s[key] = _sorted_list(s[key])
    for key in ("Principal", "NotPrincipal"):
        if isinstance(s.get(key), dict):
            s[key] = {k: _sorted_list(v) for k, v in s[key].items()}
    return s


def _sorted_list(value: Any) -> Any:
    values = value if isinstance(value, list) else [value]
    return sorted(values, key=lambda v: json.dumps(v, sort_keys=True))


def _tags(tags: Any) -> list[dict]:
    """Tags as CloudFormation writes them, unordered (sorted by key), without ``aws:`` system tags."""
    if isinstance(tags, dict):
        tags = [{"Key": k, "Value": v} for k, v in tags.items()]
    out = [{"Key": t.get("Key", t.get("TagKey")), "Value": t.get("Value", t.get("TagValue"))} for t in tags or []]
    return sorted((t for t in out if not str(t["Key"]).startswith("aws:")), key=lambda t: str(t["Key"]))


def _inline_policies(policies: Any) -> list[dict]:
    return sorted(({**p, "PolicyDocument": policy(p.get("PolicyDocument"))} for p in policies or []
                   if isinstance(p, dict)), key=lambda p: str(p.get("PolicyName")))


# Template side and live side go through the same canonical form before they are compared.
CANONICAL = {"Tags": _tags, "KeyPolicy": policy, "AssumeRolePolicyDocument": policy,
             "PolicyDocument": policy, "Policies": _inline_policies}


def _canonical(props: dict) -> dict:
    return {k: CANONICAL[k](v) if k in CANONICAL else v for k, v in props.items()}


# -- live properties, per resource type, in the template's shape ---------------------------------
def _s3_bucket(account: str, region: str, physical_id: str) -> dict | None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    backend = s3_backends[account][get_partition(region)]
    bucket = backend.buckets.get(physical_id)
    if bucket is None:
        return None
    live: dict[str, Any] = {"BucketName": bucket.name}
    if bucket.encryption:
        rules = bucket.encryption.get("Rule")
        rules = rules if isinstance(rules, list) else [rules]
        live["BucketEncryption"] = {"ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": dict(r.get("ApplyServerSideEncryptionByDefault") or {}),
             **({"BucketKeyEnabled": _bool(r["BucketKeyEnabled"])} if "BucketKeyEnabled" in r else {})}
            for r in rules if r]}
    if bucket.versioning_status:
        live["VersioningConfiguration"] = {"Status": bucket.versioning_status}
    pab = bucket.public_access_block
    if pab is not None:
        live["PublicAccessBlockConfiguration"] = {
            "BlockPublicAcls": _bool(pab.block_public_acls), "IgnorePublicAcls": _bool(pab.ignore_public_acls),
            "BlockPublicPolicy": _bool(pab.block_public_policy),
            "RestrictPublicBuckets": _bool(pab.restrict_public_buckets)}
    logging = bucket.logging or {}
    if logging.get("TargetBucket"):
        live["LoggingConfiguration"] = {"DestinationBucketName": logging["TargetBucket"],
                                        **({"LogFilePrefix": logging["TargetPrefix"]}
                                           if logging.get("TargetPrefix") else {})}
    tags = backend.get_bucket_tagging(bucket.name).get("Tags") or []
    if tags:
        live["Tags"] = tags
    return live


def _bool(value: Any) -> Any:
    """moto keeps S3's XML booleans as strings; ActualProperties shows them as the template types."""
    return {"true": True, "false": False}.get(value.lower(), value) if isinstance(value, str) else value


def _s3_bucket_policy(account: str, region: str, physical_id: str) -> dict | None:
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    bucket = s3_backends[account][get_partition(region)].buckets.get(physical_id)
    if bucket is None or not bucket.policy:
        return None
    document = bucket.policy.decode() if isinstance(bucket.policy, bytes) else bucket.policy
    return {"Bucket": bucket.name, "PolicyDocument": document}


def _kms_key(account: str, region: str, physical_id: str) -> dict | None:
    from moto.kms.models import kms_backends

    backend = kms_backends[account][region]
    key = backend.keys.get(physical_id.rsplit("/", 1)[-1])
    if key is None or key.key_state == "PendingDeletion":  # AWS::KMS::Key reads such a key as gone
        return None
    return {"EnableKeyRotation": key.key_rotation_status, "Description": key.description,
            "KeyPolicy": key.policy, "Enabled": key.enabled,
            "Tags": backend.list_resource_tags(key.id).get("Tags", [])}


def _sns_topic(account: str, region: str, physical_id: str) -> dict | None:
    from moto.sns.models import sns_backends

    topic = sns_backends[account][region].topics.get(physical_id)
    if topic is None:
        return None
    return {"TopicName": topic.name, "KmsMasterKeyId": topic.kms_master_key_id or None,
            "DisplayName": topic.display_name or None, "Tags": dict(topic._tags)}


def _iam_role(account: str, region: str, physical_id: str) -> dict | None:
    from moto.iam.models import iam_backends
    from moto.utilities.utils import get_partition

    backend = iam_backends[account][get_partition(region)]
    role = next((r for r in backend.roles.values() if r.name == physical_id), None)
    if role is None:
        return None
    return {"RoleName": role.name, "Description": role.description or None, "Path": role.path,
            "MaxSessionDuration": role.max_session_duration,
            "AssumeRolePolicyDocument": role.assume_role_policy_document,
            "Policies": [{"PolicyName": n, "PolicyDocument": d} for n, d in role.policies.items()],
            "Tags": role.tags if isinstance(role.tags, list) else list((role.tags or {}).values())}


READERS = {"AWS::S3::Bucket": _s3_bucket, "AWS::S3::BucketPolicy": _s3_bucket_policy,
           "AWS::KMS::Key": _kms_key, "AWS::SNS::Topic": _sns_topic, "AWS::IAM::Role": _iam_role}
# What each reader can see. Other properties a template sets on these types are not compared.
COMPARED = {
    "AWS::S3::Bucket": {"BucketName", "BucketEncryption", "VersioningConfiguration",
                        "PublicAccessBlockConfiguration", "LoggingConfiguration", "Tags"},
    "AWS::S3::BucketPolicy": {"Bucket", "PolicyDocument"},
    "AWS::KMS::Key": {"EnableKeyRotation", "Description", "KeyPolicy", "Enabled", "Tags"},
    "AWS::SNS::Topic": {"TopicName", "KmsMasterKeyId", "DisplayName", "Tags"},
    "AWS::IAM::Role": {"RoleName", "Description", "Path", "MaxSessionDuration", "AssumeRolePolicyDocument",
                       "Policies", "Tags"},
}


def check_resource(account: str, region: str, stack: Any, logical_id: str, model: Any, now: datetime) -> dict:
    """One StackResourceDrift (as a dict of API field -> value) for a supported resource."""
    from moto.cloudformation.parsing import clean_json

    resource_json = stack.template_dict["Resources"][logical_id]
    rtype = resource_json.get("Type", "")
    physical_id = str(getattr(model, "physical_resource_id", None) or "")
    drift: dict[str, Any] = {"StackId": stack.stack_id, "LogicalResourceId": logical_id,
                             "PhysicalResourceId": physical_id, "ResourceType": rtype}
    resolved = _drop_none(clean_json(resource_json.get("Properties", {}), stack.resource_map)) or {}
    expected = _canonical({k: v for k, v in resolved.items() if k in COMPARED[rtype]})
    live = READERS[rtype](account, region, physical_id)
    if live is None:
        return {**drift, "StackResourceDriftStatus": "DELETED", "Timestamp": now}
    live = _drop_none(live)
    actual = _canonical({k: v for k, v in live.items() if k in expected})
    diffs = differences(expected, actual)
    return {**drift, "ExpectedProperties": json.dumps(expected, sort_keys=True, default=str),
            "ActualProperties": json.dumps(actual, sort_keys=True, default=str), "PropertyDifferences": diffs,
            "StackResourceDriftStatus": "MODIFIED" if diffs else "IN_SYNC", "Timestamp": now}


def _drop_none(value: Any) -> Any:
    """A property that resolves to AWS::NoValue (None) is not set."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value if v is not None]
    return value


# -- the extension -------------------------------------------------------------------------------
class DriftExtension:
    """Serves the drift operations; everything else CloudFormation goes on to moto."""

    polls_in_progress = 0  # tests: DescribeStackDriftDetectionStatus says IN_PROGRESS this many times

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detections: OrderedDict[str, dict] = OrderedDict()

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
            handler = getattr(self, _snake(action))
            result = handler(caller.account, caller.region, params)
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

    # -- operations ----------------------------------------------------------------------------
    def detect_stack_drift(self, account: str, region: str, params: dict) -> str:
        stack = _stack(account, region, params.get("StackName", ""))
        created = _created(stack)
        wanted = _members(params, "LogicalResourceIds")
        for logical_id in wanted:
            if logical_id not in created:
                raise _ValidationError(f"Resource {logical_id} does not exist for stack {stack.name}")
        now = _now()
        checked = {}
        for logical_id in stack.template_dict.get("Resources", {}):
            if created.get(logical_id) is None or (wanted and logical_id not in wanted):
                continue  # a resource whose condition was false was never made: not listed
            if _type(stack, logical_id) in READERS:
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
                raise _ValidationError(f"Drift detection with id {detection_id} does not exist")
            if record["polls_left"] > 0:
                record["polls_left"] -= 1
                f = record["fields"]
                return _fields({"StackId": f["StackId"], "StackDriftDetectionId": detection_id,
                                "DetectionStatus": "DETECTION_IN_PROGRESS", "Timestamp": f["Timestamp"]})
            self._commit(record)
            return _fields(record["fields"])

    def describe_stack_resource_drifts(self, account: str, region: str, params: dict) -> str:
        stack = _stack(account, region, params.get("StackName", ""), deleted_ok=True)
        wanted = set(_members(params, "StackResourceDriftStatusFilters"))
        bad = wanted - {"IN_SYNC", "MODIFIED", "DELETED", "NOT_CHECKED", "UNKNOWN", "UNSUPPORTED"}
        if bad:
            raise _ValidationError(f"Invalid StackResourceDriftStatusFilters: {', '.join(sorted(bad))}")
        with self._lock:
            drifts = list(getattr(stack, _STATE, {}).values())
        if wanted:
            drifts = [d for d in drifts if d["StackResourceDriftStatus"] in wanted]
        try:
            start = int(params.get("NextToken") or 0)
            limit = int(params.get("MaxResults") or 100)
        except ValueError:
            raise _ValidationError("Invalid NextToken or MaxResults") from None
        if not 1 <= limit <= 100:
            raise _ValidationError("MaxResults must be between 1 and 100")
        page = drifts[start:start + limit]
        token = f"<NextToken>{start + limit}</NextToken>" if start + limit < len(drifts) else ""
        return "<StackResourceDrifts>" + "".join(_member(d) for d in page) + "</StackResourceDrifts>" + token

    def detect_stack_resource_drift(self, account: str, region: str, params: dict) -> str:
        stack = _stack(account, region, params.get("StackName", ""))
        logical_id = params.get("LogicalResourceId", "")
        model = _created(stack).get(logical_id)
        if model is None or logical_id not in stack.template_dict.get("Resources", {}):
            raise _ValidationError(f"Resource {logical_id} does not exist for stack {stack.name}")
        rtype = _type(stack, logical_id)
        if rtype not in READERS:
            raise _ValidationError(f"Drift detection is not supported for resource type {rtype}")
        drift = check_resource(account, region, stack, logical_id, model, _now())
        with self._lock:
            # The resource's own drift information moves on; the stack's status waits for a stack check.
            _resource_state(stack)[logical_id] = drift
        return "<StackResourceDrift>" + _member(drift, wrap=False) + "</StackResourceDrift>"

    def _commit(self, record: dict) -> None:
        """A finished detection becomes the stack's drift information (callers hold the lock)."""
        if record["committed"]:
            return
        record["committed"] = True
        stack, fields = record["stack"], record["fields"]
        state = _resource_state(stack)
        state.update(record["checked"])
        stack.drift_information = {"StackDriftStatus": fields["StackDriftStatus"],
                                   "LastCheckTimestamp": fields["Timestamp"]}


class _ValidationError(Exception):
    pass


def _snake(action: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in action).lstrip("_")


def _params(environ: dict[str, Any]) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(peek_body(environ).decode("utf-8", "replace")).items()}


def _members(params: dict, name: str) -> list[str]:
    prefix = f"{name}.member."
    found = sorted(((int(k[len(prefix):]), v) for k, v in params.items()
                    if k.startswith(prefix) and k[len(prefix):].isdigit()))
    return [v for _, v in found]


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def _stack(account: str, region: str, name: str, deleted_ok: bool = False):
    from moto.cloudformation.models import cloudformation_backends

    backend = cloudformation_backends[account][region]
    for stack in backend.stacks.values():
        if (stack.name == name or stack.stack_id == name) and stack.status != "DELETE_COMPLETE":
            return stack
    if deleted_ok and name in backend.deleted_stacks:  # a deleted stack is still reachable by its id
        return backend.deleted_stacks[name]
    raise _ValidationError(f"Stack with id {name} does not exist")


def _type(stack: Any, logical_id: str) -> str:
    return stack.template_dict["Resources"][logical_id].get("Type", "")


def _created(stack: Any) -> dict[str, Any]:
    # Read what moto already made; indexing the ResourceMap itself would create what is missing.
    return dict(getattr(stack.resource_map, "_parsed_resources", {}))


def _resource_state(stack: Any) -> dict[str, dict]:
    state = stack.__dict__.get(_STATE)
    if state is None:
        state = stack.__dict__[_STATE] = {}
    return state


def _fields(d: dict) -> str:
    return "".join(f"<{k}>{escape(_iso(v) if isinstance(v, datetime) else str(v))}</{k}>" for k, v in d.items())


def _member(d: dict, wrap: bool = True) -> str:
    parts = []
    for k, v in d.items():
        if k == "PropertyDifferences":
            inner = "".join("<member>" + _fields(p) + "</member>" for p in v)
            parts.append(f"<PropertyDifferences>{inner}</PropertyDifferences>")
        else:
            parts.append(_fields({k: v}))
    return "<member>" + "".join(parts) + "</member>" if wrap else "".join(parts)


# -- DriftInformation on moto's own stack and resource descriptions (patches) ---------------------
def _resource_drift_information(stack: Any, logical_id: str | None) -> dict:
    drift = _resource_state(stack).get(logical_id or "") if stack is not None else None
    if drift is None:
        return {"StackResourceDriftStatus": "NOT_CHECKED"}
    return {"StackResourceDriftStatus": drift["StackResourceDriftStatus"], "LastCheckTimestamp": drift["Timestamp"]}


def stack_drift_information() -> None:
    """DescribeStacks and ListStacks: DriftInformation (StackDriftStatus NOT_CHECKED until a
    detection completes, then its status and LastCheckTimestamp), as the API reference shows."""
    from moto.cloudformation.models import Stack

    if "drift_information" not in Stack.__dict__:
        Stack.drift_information = {"StackDriftStatus": "NOT_CHECKED"}  # instances override it


def resource_drift_information() -> None:
    """DescribeStackResource(s) and ListStackResources: each resource's DriftInformation
    (NOT_CHECKED for types without drift support and before any check)."""
    from moto.cloudformation import responses

    from localaws.patches._util import replace_method

    dto = responses.StackResourceDTO

    def make_init(original: Any) -> Any:
        def __init__(self: Any, stack: Any, resource: Any) -> None:
            original(self, stack, resource)
            self.drift_information = _resource_drift_information(stack, self.logical_resource_id)

        return __init__

    replace_method(dto, "__init__", make_init)

    def make_list(original: Any) -> Any:
        def list_stack_resources(self: Any) -> Any:
            result = original(self)
            stack = _stack_or_none(self.cloudformation_backend, self._get_param("StackName"))
            for summary in result.result.get("StackResourceSummaries", []):
                summary["DriftInformation"] = _resource_drift_information(stack, summary.get("LogicalResourceId"))
            return result

        return list_stack_resources

    replace_method(responses.CloudFormationResponse, "list_stack_resources", make_list)


def _stack_or_none(backend: Any, name: str) -> Any:
    try:
        return backend.get_stack(name)
    except Exception:  # noqa: BLE001 - moto answered the call already; no stack means NOT_CHECKED
        return None


PATCHES = [stack_drift_information, resource_drift_information]
