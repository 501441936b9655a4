"""Issue 13 items 1-2: no gate stops for one file, and what was (not) checked is visible."""

from __future__ import annotations

import json

from fleet.gates import run_gates
from fleet.gates.command import check_command

RAIN = """Resources:
  Module:
    Type: {Rain::Module: ./bucket.yaml}
  Open:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Statement: [{Effect: Allow, Principal: "*", Action: "sts:AssumeRole"}]
"""

FOR_EACH = """AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::LanguageExtensions
Resources:
  Fn::ForEach::Roles:
    - Name
    - [Reader, Writer]
    - ${Name}Role:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Statement: [{Effect: Allow, Principal: "*", Action: "sts:AssumeRole"}]
          Tags: [{Key: fleet:managed-by, Value: fleet}]
  Fn::ForEach::Keys:
    - K
    - [One]
    - Key${K}:
        Type: AWS::KMS::Key
        DeletionPolicy: Retain
        UpdateReplacePolicy: Retain
        Properties:
          EnableKeyRotation: false
          Tags: [{Key: fleet:managed-by, Value: fleet}]
"""

MACRO = """Transform: PyPlate
Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: |
        #!PyPlate
        output = "not-a-template-value"
"""

SAM = """Transform: AWS::Serverless-2016-10-31
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: {Runtime: python3.12, Handler: a.b, CodeUri: s3://b/k}
"""


def test_a_resource_whose_type_is_a_mapping_does_not_stop_the_iam_gate(fleet_repo, cache):
    (fleet_repo / "templates" / "rain.yaml").write_text(RAIN)
    found = run_gates(fleet_repo, gates={"iam", "policy"}, cache_dir=cache).findings
    assert not [f for f in found if f.rule.endswith("crashed")], found
    # the gate ran: the open trust policy beside the module is still found
    assert any(f.rule == "iam:public-principal" and f.file == "templates/rain.yaml"
               for f in found)
    warned = [f for f in found if f.rule == "policy:not-checked"]
    assert len(warned) == 1 and warned[0].severity == "warning" and "Module" in warned[0].message
    assert warned[0].line == 2


def test_for_each_resources_are_expanded_before_policy_and_iam(fleet_repo, cache):
    (fleet_repo / "templates" / "loop.yaml").write_text(FOR_EACH)
    found = [f for f in run_gates(fleet_repo, gates={"iam", "policy"}, cache_dir=cache).findings
             if f.file == "templates/loop.yaml"]
    iam = sorted(f.message.split(" ")[0] for f in found if f.rule == "iam:public-principal")
    assert iam == ["ReaderRole", "WriterRole"]
    kms = [f for f in found if f.rule == "policy:kms_key_rotation"]
    assert kms and "KeyOne" in kms[0].message


def test_macros_and_sam_are_listed_as_skipped_with_their_reason(fleet_repo, cache, capsys):
    (fleet_repo / "templates" / "macro.yaml").write_text(MACRO)
    (fleet_repo / "templates" / "sam.yaml").write_text(SAM)
    assert check_command(str(fleet_repo), fmt="json", history=False) in (0, 1)
    data = json.loads(capsys.readouterr().out)
    checked = data["summary"]["checked"]
    skipped = {item["file"].split(":")[0]: item["reason"] for item in checked["skipped"]}
    assert "PyPlate" in skipped["templates/macro.yaml"]
    assert "SAM" in skipped["templates/sam.yaml"]
    # 4 sample templates + the two above; the sample's resources are counted, the skipped not
    assert checked["templates"] == 6 and checked["resources"] >= 11
    # Rego and Guard never saw the macro's text: no policy or iam finding quotes it (cfn-lint's
    # own messages quote values, as cfn-lint does standalone)
    ours = [f for f in data["findings"] if f["gate"] in ("policy", "iam")]
    assert "not-a-template-value" not in json.dumps(ours)
    assert check_command(str(fleet_repo), history=False) in (0, 1)
    text = capsys.readouterr().out
    assert "checked: 6 template(s)" in text and "SKIPPED templates/macro.yaml:1" in text


def test_checked_counts_history_blobs(tmp_path, cache):
    from .conftest import commit_all, init_repo

    repo = init_repo(tmp_path / "r")
    for i in range(3):
        (repo / "a.txt").write_text(f"version {i}\n")
        commit_all(repo, f"c{i}")
    report = run_gates(repo, gates={"secrets"}, cache_dir=cache)
    # two old versions of a.txt (the current one is the tree's)
    assert report.checked["history_blobs"] == 2


def test_a_crash_on_one_template_is_reported_and_not_cached(fleet_repo, cache, monkeypatch):
    from fleet.gates import iam

    real = iam.resource_documents
    real_run = iam.run
    given = []  # the templates each run of the IAM checks was given

    def flaky(resources):
        if "Boom" in resources:
            raise RuntimeError("odd template")
        return real(resources)

    def run(ws, **kw):
        given.append(sorted(t.rel for t in ws.templates))
        return real_run(ws, **kw)

    monkeypatch.setattr(iam, "resource_documents", flaky)
    monkeypatch.setattr(iam, "run", run)
    (fleet_repo / "templates" / "boom.yaml").write_text(
        "Resources:\n  Boom:\n    Type: AWS::SNS::Topic\n")
    for _ in range(2):
        found = run_gates(fleet_repo, gates={"iam"}, cache_dir=cache, isolate=False).findings
        crashed = [f for f in found if f.rule == "iam:template-crashed"]
        assert [f.file for f in crashed] == ["templates/boom.yaml"]
    # every template, then only the one whose result was incomplete (the others' were cached)
    assert "templates/boom.yaml" in given[0] and len(given[0]) > 1
    assert given[1] == ["templates/boom.yaml"]
