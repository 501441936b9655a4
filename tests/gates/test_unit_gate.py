from fleet.gates import run_gates


def unit(root, cache):
    return run_gates(root, gates={"unit"}, cache_dir=cache).findings


def test_sample_features_pass_and_cover_six_scenarios(fleet_repo, cache):
    text = "".join(p.read_text() for p in (fleet_repo / "features").glob("*.feature"))
    assert text.count("Scenario") >= 6
    assert unit(fleet_repo, cache) == []


def test_failing_scenario_names_feature_file_and_step_line(fleet_repo, cache):
    # weaken the product template: the feature must notice
    path = fleet_repo / "templates" / "products" / "encrypted-bucket.yaml"
    path.write_text(path.read_text().replace("DeletionPolicy: Retain", "DeletionPolicy: Delete"))
    found = unit(fleet_repo, cache)
    assert len(found) == 1
    f = found[0]
    assert f.file == "features/encrypted_bucket.feature" and f.severity == "error"
    lines = (fleet_repo / f.file).read_text().splitlines()
    assert "DeletionPolicy" in lines[f.line - 1]
    assert "Bucket: DeletionPolicy is 'Delete'" in f.message


def test_undefined_step_and_bad_feature_are_findings(fleet_repo, cache):
    (fleet_repo / "features" / "x.feature").write_text(
        "Feature: x\n  Scenario: y\n    Given the template \"templates/security-baseline.yaml\"\n"
        "    Then the moon is full\n")
    found = unit(fleet_repo, cache)
    assert [(f.rule, f.file, f.line) for f in found] == [("unit:step-undefined", "features/x.feature", 4)]
    (fleet_repo / "features" / "x.feature").write_text("this is not gherkin\n")
    found = unit(fleet_repo, cache)
    assert found and all(f.severity == "error" for f in found)


def test_wildcard_step_uses_the_iam_gates_rule(fleet_repo, cache):
    (fleet_repo / "templates" / "admin.yaml").write_text(
        "Resources:\n  Admin:\n    Type: AWS::IAM::ManagedPolicy\n    Properties:\n"
        "      PolicyDocument: {Statement: [{Effect: Allow, Action: '*', Resource: '*'}]}\n")
    (fleet_repo / "features" / "admin.feature").write_text(
        "Feature: admin\n  Scenario: no admin policy\n"
        "    Given the template \"templates/admin.yaml\"\n"
        "    Then no IAM statement allows \"*\" on \"*\"\n")
    found = unit(fleet_repo, cache)
    assert [(f.rule, f.file, f.line) for f in found] == [
        ("unit:no admin policy", "features/admin.feature", 4)]
    assert "Admin: allows Action \"*\" on Resource \"*\" (iam:wildcard-admin)" in found[0].message
