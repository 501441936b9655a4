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
    # the sample's four templates and k.yaml, every resource in them
    assert checked["templates"] == 5 and checked["resources"] > 5
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


def test_fleet_check_refuses_a_config_the_pipeline_would_refuse(fleet_repo, capsys):
    # issue 12 item 7: yamllint alone passed configs the loader rejects
    text = (fleet_repo / "fleet.yaml").read_text()
    (fleet_repo / "fleet.yaml").write_text(text.replace("failure_tolerance: 0",
                                                        "failure_tolerance: -3"))
    assert check_command(str(fleet_repo), history=False) == 2
    err = capsys.readouterr().err
    assert "fleet.yaml:" in err and "environments.prod.failure_tolerance" in err
    line = int(err.split("fleet.yaml:")[1].split(":")[0])
    assert (fleet_repo / "fleet.yaml").read_text().splitlines()[line - 1].strip().startswith(
        "failure_tolerance")


def test_control_characters_in_file_names_are_escaped_in_text_output(fleet_repo, capsys):
    from .conftest import secret_line

    forged = "x\n  ERROR   forged.yaml  lint:E0000: forged line\x1b[2J.py"
    (fleet_repo / forged).write_text(secret_line())
    for fmt in ("text", "json"):
        assert check_command(str(fleet_repo), fmt=fmt, history=False) == 1
        out = capsys.readouterr().out
        assert "\x1b" not in out and "\n  ERROR   forged.yaml" not in out
        assert ("x\\n  ERROR   forged.yaml" if fmt == "text" else "x\\n  ERROR") in out


def test_pre_commit_hook_loads_a_staged_fleet_config(tmp_path, capsys, monkeypatch):
    import shutil

    from fleet.gates import hook

    from .conftest import INCLUDE, init_repo

    repo = init_repo(tmp_path / "r")
    shutil.copytree(INCLUDE, repo / "include", ignore=shutil.ignore_patterns("features"))
    config = repo / "include" / "fleet.yaml"
    config.write_text(config.read_text().replace("max_concurrent: 20", "max_concurrent: 0"))
    monkeypatch.chdir(repo)
    assert hook.main(["lint", "include/fleet.yaml"]) == 2
    assert "environments.prod.max_concurrent" in capsys.readouterr().err
