"""The policy and IAM gates keep each template's result by its content: an edited template is
checked again, the others come from the cache, and the findings equal an uncached run's."""

import shutil
from pathlib import Path

import pytest

from fleet.gates import iam, policy, run_gates

REPO = Path(__file__).resolve().parents[2]

QUIET = """AWSTemplateFormatVersion: "2010-09-09"
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: alias/aws/sns
      Tags: [{Key: fleet:managed-by, Value: fleet-pipeline}]
"""

ADMIN = """
  Admin:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement: [{Effect: Allow, Action: "*", Resource: "*"}]
  Data:
    Type: AWS::S3::Bucket
"""


@pytest.fixture
def repo(tmp_path):
    root = tmp_path / "fleet"
    shutil.copytree(REPO / "include" / "templates", root / "templates")
    (root / "templates" / "edited.yaml").write_text(QUIET)
    (root / "templates" / "same.yaml").write_text(QUIET.replace("Topic:", "Alerts:"))
    return root


@pytest.fixture
def checked(monkeypatch):
    """The templates each policy/iam run was given, per gate."""
    seen = {"policy": [], "iam": []}
    for gate, module in (("policy", policy), ("iam", iam)):
        real = module.run

        def spy(ws, *args, _gate=gate, _real=real, **kw):
            seen[_gate].append(sorted(t.rel for t in ws.templates))
            return _real(ws, *args, **kw)

        monkeypatch.setattr(module, "run", spy)
    return seen


def check(root, cache):
    report = run_gates(root, gates={"policy", "iam"}, cache_dir=cache, history=False,
                       isolate=False)
    return sorted((f.gate, f.rule, f.file, f.line, f.message) for f in report.findings)


def others(found):
    """Findings about the templates that were not edited."""
    return [f for f in found if f[2] not in ("templates/edited.yaml", ".")]


def test_only_the_edited_template_is_checked_again(repo, tmp_path, checked):
    cache = tmp_path / "cache"
    first = check(repo, cache)
    every = checked["policy"][0]
    assert "templates/edited.yaml" in every and "templates/same.yaml" in every
    assert checked["iam"][0] == every

    with (repo / "templates" / "edited.yaml").open("a") as handle:
        handle.write(ADMIN)
    second = check(repo, cache)
    assert checked["policy"][1] == ["templates/edited.yaml"]
    assert checked["iam"][1] == ["templates/edited.yaml"]
    new = set(second) - set(first)
    assert any(f[1] == "iam:wildcard-admin" and f[2] == "templates/edited.yaml" for f in new)
    assert any(f[1] == "policy:s3_bucket_encryption" and f[2] == "templates/edited.yaml"
               for f in new)
    assert others(second) == others(first) and others(first)

    # the same findings as a run with an empty cache
    assert second == check(repo, tmp_path / "empty-cache")


def test_changed_rule_parameters_check_every_template_again(repo, tmp_path, checked):
    cache = tmp_path / "cache"
    check(repo, cache)
    (repo / "fleet.yaml").write_text(
        "policies:\n  parameters:\n    required_tag_keys: [team]\n")
    found = check(repo, cache)
    assert checked["policy"][1] == checked["policy"][0]
    assert any(f[1] == "policy:required_tags" and f[2] == "templates/same.yaml" for f in found)


def test_a_crashed_template_is_not_kept(repo, tmp_path, checked, monkeypatch):
    cache = tmp_path / "cache"
    real = iam.PolicyDocument.parse

    def flaky(node, kind, have_catalog):
        raise RuntimeError("boom")

    monkeypatch.setattr(iam.PolicyDocument, "parse", staticmethod(flaky))
    with (repo / "templates" / "edited.yaml").open("a") as handle:
        handle.write(ADMIN)
    crashed = check(repo, cache)
    assert any(f[1] == "iam:template-crashed" and f[2] == "templates/edited.yaml"
               for f in crashed)
    monkeypatch.setattr(iam.PolicyDocument, "parse", staticmethod(real))
    (repo / "templates" / "same.yaml").write_text(QUIET.replace("Topic:", "Other:"))
    again = check(repo, cache)  # the gate-level cache misses: same.yaml changed
    assert "templates/edited.yaml" in checked["iam"][1]
    assert any(f[1] == "iam:wildcard-admin" and f[2] == "templates/edited.yaml" for f in again)
