"""The reusable Gherkin step library for IaC unit tests (include/features/*.feature).

Loaded as a pytest plugin by the `unit` gate, so every feature file can use these steps.
Templates are named relative to the fleet repo root being checked (the `fleet_root` fixture).
Assertion messages name the resource and the property: they are the gate's finding text.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytest_bdd import given, parsers, then

from .workspace import decode_template


class Loaded:
    def __init__(self, path: Path, data: dict):
        self.path = path
        self.data = data

    @property
    def resources(self) -> dict:
        return self.data.get("Resources") or {}

    def of_type(self, kind: str) -> dict:
        return {n: r for n, r in self.resources.items()
                if isinstance(r, dict) and r.get("Type") == kind}


def _get(node, dotted: str):
    """Follow a dotted path (`Properties.BucketEncryption.ServerSideEncryptionConfiguration.0`)."""
    for part in dotted.split("."):
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(part)
    return node


def _tags(resource: dict) -> dict:
    tags = (resource.get("Properties") or {}).get("Tags") or []
    if isinstance(tags, dict):
        return tags
    return {t.get("Key"): t.get("Value") for t in tags if isinstance(t, dict)}


@pytest.fixture
def fleet_root() -> Path:  # replaced by the unit gate's plugin with the repo being checked
    return Path.cwd()


@given(parsers.parse('the template "{path}"'), target_fixture="template")
def the_template(fleet_root: Path, path: str) -> Loaded:
    file = fleet_root / path
    assert file.is_file(), f"template {path} not found under {fleet_root}"
    data, problem = decode_template(file.read_text(encoding="utf-8"))
    assert problem is None, f"template {path} does not parse: {problem[1]}"
    assert isinstance(data, dict) and isinstance(data.get("Resources"), dict), \
        f"{path} has no top-level Resources map"
    return Loaded(file, data)


@then(parsers.parse('the template has a resource of type "{kind}"'))
def has_type(template: Loaded, kind: str):
    assert template.of_type(kind), f"no resource of type {kind}"


@then(parsers.parse('resource "{name}" of type "{kind}" has property "{prop}"'))
def has_property(template: Loaded, name: str, kind: str, prop: str):
    resource = template.resources.get(name)
    assert resource is not None, f"no resource {name}"
    assert resource.get("Type") == kind, f"{name} is {resource.get('Type')}, expected {kind}"
    try:
        _get(resource.get("Properties") or {}, prop)
    except KeyError as missing:
        raise AssertionError(f"{name} ({kind}) has no property {prop} (missing {missing})")


@then(parsers.parse('resource "{name}" of type "{kind}" has property "{prop}" equal to "{value}"'))
def property_equals(template: Loaded, name: str, kind: str, prop: str, value: str):
    has_property(template, name, kind, prop)
    actual = _get(template.resources[name].get("Properties") or {}, prop)
    assert str(actual).lower() == value.lower(), f"{name}.{prop} is {actual!r}, expected {value!r}"


@then("every S3 bucket has encryption")
def buckets_encrypted(template: Loaded):
    buckets = template.of_type("AWS::S3::Bucket")
    assert buckets, "the template has no S3 bucket"
    for name, bucket in buckets.items():
        try:
            rules = _get(bucket, "Properties.BucketEncryption.ServerSideEncryptionConfiguration")
            algos = [_get(r, "ServerSideEncryptionByDefault.SSEAlgorithm") for r in rules]
        except (KeyError, TypeError):
            raise AssertionError(f"bucket {name} has no default encryption") from None
        assert algos and all(a in ("AES256", "aws:kms", "aws:kms:dsse") for a in algos), \
            f"bucket {name} has encryption algorithm(s) {algos}"


@then("every S3 bucket blocks public access")
def buckets_private(template: Loaded):
    for name, bucket in template.of_type("AWS::S3::Bucket").items():
        block = (bucket.get("Properties") or {}).get("PublicAccessBlockConfiguration") or {}
        for setting in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls",
                        "RestrictPublicBuckets"):
            assert block.get(setting) is True, f"bucket {name}: {setting} is not true"


@then("every S3 bucket has versioning enabled")
def buckets_versioned(template: Loaded):
    for name, bucket in template.of_type("AWS::S3::Bucket").items():
        status = ((bucket.get("Properties") or {}).get("VersioningConfiguration") or {}).get("Status")
        assert status == "Enabled", f"bucket {name}: versioning is {status!r}"


@then("every KMS key has rotation enabled")
def keys_rotate(template: Loaded):
    keys = template.of_type("AWS::KMS::Key")
    assert keys, "the template has no KMS key"
    for name, key in keys.items():
        assert (key.get("Properties") or {}).get("EnableKeyRotation") is True, \
            f"KMS key {name} does not enable rotation"


@then('no IAM statement allows "*" on "*"')
def no_wildcard_admin(template: Loaded):
    # the iam gate's own rule, so the step and the gate cannot disagree about what admin means
    from .iam import resource_documents
    from .iam_rules import WILDCARD_ADMIN, PolicyDocument

    for name, kind, node in resource_documents(template.resources):
        document = PolicyDocument.parse(node, kind, have_catalog=False)
        for _, message in WILDCARD_ADMIN.check(document):
            raise AssertionError(f"{name}: {message} ({WILDCARD_ADMIN.id})")


@then(parsers.parse('every resource of type "{kind}" has the tag "{key}"'))
def every_tagged(template: Loaded, kind: str, key: str):
    for name, resource in template.of_type(kind).items():
        assert key in _tags(resource), f"{name} ({kind}) lacks the tag {key}"


@then(parsers.parse('every resource of type "{kind}" has DeletionPolicy "{policy}"'))
def deletion_policy(template: Loaded, kind: str, policy: str):
    resources = template.of_type(kind)
    assert resources, f"no resource of type {kind}"
    for name, resource in resources.items():
        assert resource.get("DeletionPolicy") == policy, \
            f"{name}: DeletionPolicy is {resource.get('DeletionPolicy')!r}, expected {policy!r}"


@then(parsers.parse('the template has an output "{name}"'))
def has_output(template: Loaded, name: str):
    assert name in (template.data.get("Outputs") or {}), f"no output {name}"
