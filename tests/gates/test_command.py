import json

from fleet.gates.command import check_command

from .conftest import secret_line


def test_exit_0_on_the_sample_repo_text_grouped_per_gate(fleet_repo, capsys):
    assert check_command(str(fleet_repo)) == 0
    out = capsys.readouterr().out
    order = [out.index(f"[{g}]") for g in ("secrets", "lint", "policy", "iam", "unit")]
    assert order == sorted(order)
    assert "templates/products/encrypted-bucket.yaml:20" in out  # a warning, file:line


def test_exit_1_on_an_error_finding_and_json_contract(fleet_repo, capsys):
    (fleet_repo / "templates" / "k.yaml").write_text(
        "Resources:\n  Key:\n    Type: AWS::KMS::Key\n    DeletionPolicy: Retain\n"
        "    UpdateReplacePolicy: Retain\n    Properties:\n      EnableKeyRotation: false\n"
        "      Tags: [{Key: fleet:managed-by, Value: x}]\n")
    assert check_command(str(fleet_repo), fmt="json") == 1
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"findings", "summary"}
    assert set(data["summary"]) == {"gates", "errors", "warnings", "checked"}
    assert set(data["summary"]["gates"]) == {"secrets", "lint", "policy", "iam", "unit"}
    checked = data["summary"]["checked"]
    assert set(checked) == {"templates", "resources", "history_blobs", "skipped"}
    # the sample's three templates and k.yaml, every resource in them
    assert checked["templates"] == 4 and checked["resources"] > 4
    hit = [f for f in data["findings"] if f["rule"] == "policy:kms_key_rotation"]
    assert hit == [{"gate": "policy", "rule": "policy:kms_key_rotation", "severity": "error",
                    "file": "templates/k.yaml", "line": 7, "commit": None,
                    "message": "Key: KMS key must set EnableKeyRotation: true"}]


def test_exit_2_on_bad_usage(tmp_path, capsys):
    assert check_command(str(tmp_path / "missing")) == 2
    assert check_command(str(tmp_path), fmt="xml") == 2
    (tmp_path / "file.txt").write_text("x")
    assert check_command(str(tmp_path / "file.txt")) == 2
    err = capsys.readouterr().err
    assert "no such file" in err and "--format" in err and "expected a directory" in err


def test_no_history_flag_skips_git_history(tmp_path, capsys):
    from .conftest import commit_all, init_repo

    repo = init_repo(tmp_path / "r")
    (repo / "a.py").write_text(secret_line())
    commit_all(repo, "1")
    (repo / "a.py").write_text("x = 1\n")
    commit_all(repo, "2")
    assert check_command(str(repo), history=False) == 0
    assert check_command(str(repo), history=True) == 1


def test_this_repositorys_sample_fleet_passes_its_own_gates_history_included(capsys):
    """The demo's Build stage scans this very repository's history: keep it clean (or allow-listed)."""
    code = check_command(None, fmt="json", history=True)
    out = json.loads(capsys.readouterr().out)
    errors = [f for f in out["findings"] if f["severity"] == "error"]
    assert code == 0 and errors == [], errors
