"""Product templates: where CreateProduct / CreateProvisioningArtifact read them from.

The API reference (ProvisioningArtifactProperties.Info) allows exactly one of
``LoadTemplateFromURL`` (an S3 URL in any of its forms) or ``ImportFromPhysicalId`` (the ARN of
an existing CloudFormation stack).  Service Catalog copies the template when the version is
created, so later changes to the S3 object do not change the version; we do the same.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import unquote, urlparse

import yaml

from localaws.request import Caller

from .exceptions import InvalidParametersException

_S3_HOST = re.compile(r"^s3([.-](?P<region>[a-z0-9-]+))?\.amazonaws\.com(\.cn)?$")
_VHOST = re.compile(r"^(?P<bucket>.+?)\.s3([.-][a-z0-9-]+)?\.amazonaws\.com(\.cn)?$")


def split_s3_url(url: str) -> tuple[str, str]:
    """(bucket, key) for path-style, virtual-host and local (loopback) S3 URLs."""
    parsed = urlparse(url)
    host = (parsed.hostname or "").lower()
    path = unquote(parsed.path.lstrip("/"))
    if parsed.scheme == "s3":
        return host, path
    vhost = _VHOST.match(host)
    if vhost and not _S3_HOST.match(host):
        bucket, key = vhost.group("bucket"), path
    else:
        # s3.amazonaws.com, s3.REGION.amazonaws.com, localhost / 127.0.0.1 endpoints: path style
        bucket, _, key = path.partition("/")
    if parsed.scheme not in ("http", "https", "s3") or not bucket or not key:
        raise InvalidParametersException(f"Invalid template URL: {url}")
    return bucket, key


def load_from_url(url: str, caller: Caller) -> str:
    from moto.s3.models import s3_backends

    bucket, key = split_s3_url(url)
    try:
        obj = s3_backends[caller.account][caller.partition].get_object(bucket, key)
    except Exception as exc:  # moto raises its own S3 client errors
        raise InvalidParametersException(f"Unable to retrieve template from URL {url}: {exc}") from exc
    if obj is None:
        raise InvalidParametersException(f"Unable to retrieve template from URL {url}")
    return obj.value.decode("utf-8")


def load_from_stack(physical_id: str, caller: Caller) -> str:
    from moto.cloudformation.models import cloudformation_backends

    try:
        stack = cloudformation_backends[caller.account][caller.region].get_stack(physical_id)
    except Exception as exc:
        raise InvalidParametersException(f"Stack {physical_id} not found.") from exc
    return stack.template


def template_from_info(info: dict[str, Any] | None, caller: Caller) -> tuple[str, str]:
    """(template body, TemplateUrl to report) from ProvisioningArtifactProperties.Info."""
    info = info or {}
    url = info.get("LoadTemplateFromURL")
    physical_id = info.get("ImportFromPhysicalId")
    if bool(url) == bool(physical_id):
        raise InvalidParametersException(
            "Info must contain exactly one of LoadTemplateFromURL or ImportFromPhysicalId."
        )
    if url:
        return load_from_url(url, caller), url
    return load_from_stack(physical_id, caller), physical_id


class _CfnLoader(yaml.SafeLoader):
    """YAML loader that keeps CloudFormation short-form intrinsics (!Ref, !Sub, ...) as data."""


def _intrinsic(loader: yaml.Loader, tag: str, node: yaml.Node) -> Any:
    name = "Ref" if tag == "!Ref" else f"Fn::{tag[1:]}"
    if isinstance(node, yaml.SequenceNode):
        value: Any = loader.construct_sequence(node, deep=True)
    elif isinstance(node, yaml.MappingNode):
        value = loader.construct_mapping(node, deep=True)
    else:
        value = loader.construct_scalar(node)
        if tag == "!GetAtt":
            value = str(value).split(".", 1)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _intrinsic)


def parse(template: str) -> dict[str, Any]:
    try:
        body = json.loads(template)
    except ValueError:
        try:
            body = yaml.load(template, Loader=_CfnLoader)  # noqa: S506 - safe loader subclass
        except yaml.YAMLError as exc:
            raise InvalidParametersException(f"Template is not valid JSON or YAML: {exc}") from exc
    if not isinstance(body, dict) or not isinstance(body.get("Resources"), dict):
        raise InvalidParametersException("Template format error: at least one Resources member must be defined.")
    return body


def parameters(template: str) -> list[dict[str, Any]]:
    """ProvisioningArtifactParameter list, as DescribeProvisioningParameters reports it."""
    out = []
    for key, spec in (parse(template).get("Parameters") or {}).items():
        spec = spec or {}
        item: dict[str, Any] = {
            "ParameterKey": key,
            "ParameterType": spec.get("Type", "String"),
            "IsNoEcho": str(spec.get("NoEcho", "false")).lower() == "true",
        }
        if "Default" in spec:
            item["DefaultValue"] = str(spec["Default"])
        if "Description" in spec:
            item["Description"] = spec["Description"]
        constraints: dict[str, Any] = {}
        if "AllowedValues" in spec:
            constraints["AllowedValues"] = [str(v) for v in spec["AllowedValues"]]
        for name in ("AllowedPattern", "ConstraintDescription", "MaxLength", "MinLength", "MaxValue", "MinValue"):
            if name in spec:
                constraints[name] = str(spec[name])
        item["ParameterConstraints"] = constraints
        out.append(item)
    return out


def outputs(template: str) -> list[dict[str, str]]:
    return [
        {"Key": key, **({"Description": spec["Description"]} if isinstance(spec, dict) and "Description" in spec else {})}
        for key, spec in (parse(template).get("Outputs") or {}).items()
    ]
