"""Drift's comparison engine: a template's expected properties against the live ones, as
CloudFormation compares them (AWS CloudFormation User Guide, "Detect drift").

- only the properties the template sets are compared (a default the template leaves out is not
  drift); the expected side is the stack's template resolved against its parameters and resources
  (Ref, GetAtt, Sub, If), as CloudFormation resolves it;
- a resource gone from its service is DELETED (no Expected/ActualProperties then);
- PropertyDifferences carry a JSON-pointer PropertyPath and ADD / REMOVE / NOT_EQUAL;
- list properties AWS treats as unordered (Tags, IAM policy lists) are compared regardless of
  order, policy documents by meaning (``"s3:*"`` equals ``["s3:*"]``), ``aws:`` tags are ignored.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from localaws.drift.readers import COMPARED, READERS


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
