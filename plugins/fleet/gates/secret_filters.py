"""detect-secrets filters for CloudFormation idioms that look like secrets but hold none.

Registered by secret_scan.configure (this package's code, never a path from the repo under review).
Each filter returns True to drop a candidate. They are narrow on purpose: a value is dropped only
when it cannot be a secret (a boolean, a reference to one, an IAM action name, an asset hash next
to the parameter that names it as one).
"""

from __future__ import annotations

import re

_BOOLEAN = {"true", "false", "yes", "no", "on", "off"}
# {{resolve:secretsmanager:...}}, {{resolve:ssm-secure:...}}, {{resolve:ssm:...}}: CloudFormation
# fetches the value at deploy time; the template holds its name only
_DYNAMIC_REFERENCE = re.compile(r"^\{\{resolve:[a-z-]+:[^}]*\}\}$")
# !Ref Param, !Sub "${Param}", !GetAtt X.Y, !ImportValue ..., or a bare ${Param}
_INTRINSIC = re.compile(r"^(!(Ref|Sub|GetAtt|ImportValue|Join|Select|FindInMap|If)\b.*|\$\{[^}]+\})$")
# IAM action names: service prefix, colon, action (wildcards allowed)
_IAM_ACTION = re.compile(r"^[a-z0-9-]{2,40}:[A-Za-z0-9*?]+$")
_HEX_DIGEST = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")
_HEX_RUN = re.compile(r"[0-9a-f]{64}")
# parameter and property names that carry a content hash (CDK assets, artifact checksums)
_DIGEST_NAMES = re.compile(r"S3Key|S3VersionKey|ArtifactHash|AssetParameters|Sha256|SHA256|"
                           r"Checksum|Digest|ContentHash|SourceHash|CodeHash", re.I)


_RESOLVE_SPAN = re.compile(r"\{\{resolve:[a-z-]+:.*?\}\}")
# an ARN names a resource (a secret's ARN included); it never holds the secret's value
_ARN_SPAN = re.compile(r"arn:(?:aws|aws-cn|aws-us-gov|\$\{AWS::Partition\}):[^\s\"',]+")
_ACTION_TOKEN = re.compile(r"(?<![A-Za-z0-9/])([a-z0-9-]{2,40}):([A-Za-z0-9*?]+)")


def is_cloudformation_idiom(secret: str, line: str, context) -> bool:
    # the keyword plugin may capture part of a value (`prod/db:SecretString:password}}`), so
    # each test also looks at where the candidate sits in its line
    value = secret.strip().strip("'\",; ")
    if value.lower() in _BOOLEAN:
        return True  # ManageMasterUserPassword: true
    if _DYNAMIC_REFERENCE.match(value) or any(
            value in span.group(0) for span in _RESOLVE_SPAN.finditer(line)):
        return True  # CloudFormation resolves it at deploy time; the template holds a name
    if _INTRINSIC.match(value):
        return True
    if any(value in span.group(0) for span in _ARN_SPAN.finditer(line)):
        return True
    if _looks_like_action_list(line) and any(
            value in (f"{m.group(1)}:{m.group(2)}", m.group(2))
            for m in _ACTION_TOKEN.finditer(line)):
        return True  # Action: secretsmanager:GetSecretValue
    if _HEX_DIGEST.match(value) or _HEX_RUN.search(value):
        # a content hash: alone, or inside a CDK asset parameter's name
        lines = getattr(context, "lines", None) or [line]
        return any(_DIGEST_NAMES.search(text) for text in lines)
    return False


def _looks_like_action_list(line: str) -> bool:
    return bool(re.search(r"\bAction\b|^\s*-\s*['\"]?[a-z0-9-]+:[A-Za-z0-9*?]+['\"]?,?\s*$|"
                          r"^\s*['\"][a-z0-9-]+:[A-Za-z0-9*?]+['\"],?\s*$", line))
