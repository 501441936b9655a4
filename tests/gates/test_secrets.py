import json
import os

from fleet.gates import run_gates
from fleet.gates.command import check_command

from .conftest import AWS_KEY, DB_VALUE, commit_all, git, init_repo, keyword_line, secret_line


def secrets_findings(root, cache, **kw):
    report = run_gates(root, gates={"secrets"}, cache_dir=cache, **kw)
    return report, [f for f in report.findings if f.gate == "secrets"]


def test_clean_tree_has_no_finding(fleet_repo, cache):
    report, found = secrets_findings(fleet_repo, cache)
    assert found == [] and report.ok


def test_secret_in_working_tree_names_file_and_line(fleet_repo, cache):
    (fleet_repo / "app.py").write_text("import os\n" + secret_line())
    report, found = secrets_findings(fleet_repo, cache)
    assert not report.ok
    hit = [f for f in found if f.rule == "secrets:AWSKeyDetector"]
    assert hit and hit[0].file == "app.py" and hit[0].line == 2 and hit[0].commit is None


def test_history_only_secret_names_earliest_commit_on_any_branch(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    (repo / "README.md").write_text("fleet\n")
    commit_all(repo, "c1")
    (repo / "config.py").write_text("x = 1\n" + secret_line())
    introduced = commit_all(repo, "c2 adds a key")
    (repo / "config.py").write_text("x = 2\n" + secret_line())  # same secret, new blob
    commit_all(repo, "c3")
    git(repo, "branch", "feature")
    (repo / "config.py").write_text("x = 2\n")
    commit_all(repo, "c4 removes it")
    git(repo, "checkout", "-q", "feature")
    (repo / "other.txt").write_text("y\n")
    commit_all(repo, "c5 on feature")
    git(repo, "checkout", "-q", "main")

    report, found = secrets_findings(repo, cache)
    hist = [f for f in found if f.rule == "secrets:AWSKeyDetector"]
    assert len(hist) == 1, found
    assert hist[0].commit == introduced
    assert hist[0].file == "config.py" and hist[0].line == 2
    assert report.purge_plan["commits"] and introduced in report.purge_plan["commits"]

    # without history only the (clean) tree is scanned
    _, tree_only = secrets_findings(repo, cache, history=False)
    assert tree_only == []


def test_rerun_is_warm_each_blob_scanned_once(tmp_path, cache):
    from fleet.gates import secrets_gate
    from fleet.gates.workspace import Workspace

    repo = init_repo(tmp_path / "r")
    for i in range(5):
        (repo / f"f{i}.yaml").write_text(f"key{i}: value{i}\n")
        commit_all(repo, f"c{i}")
    cold = secrets_gate.run(Workspace(repo), cache_dir=cache)
    assert cold.scanned_blobs == 5
    warm = secrets_gate.run(Workspace(repo), cache_dir=cache)
    assert warm.scanned_blobs == 0 and warm.cache_hits == 5


def test_baseline_allow_lists_in_detect_secrets_format(fleet_repo, cache):
    from detect_secrets.core.secrets_collection import SecretsCollection
    from detect_secrets.settings import default_settings

    (fleet_repo / "app.py").write_text(keyword_line())
    _, before = secrets_findings(fleet_repo, cache)
    assert [f.rule for f in before] == ["secrets:KeywordDetector"]
    # write the baseline with detect-secrets itself, as a developer would
    old = os.getcwd()
    os.chdir(fleet_repo)
    try:
        with default_settings():
            collection = SecretsCollection()
            collection.scan_file("app.py")
            baseline = {"version": "1.5.0", "plugins_used": [], "filters_used": [],
                        "results": collection.json()}
    finally:
        os.chdir(old)
    (fleet_repo / ".secrets.baseline").write_text(json.dumps(baseline))
    _, after = secrets_findings(fleet_repo, cache)
    assert after == []


def test_bad_baseline_is_a_usage_error(fleet_repo, capsys):
    (fleet_repo / ".secrets.baseline").write_text("{not json")
    assert check_command(str(fleet_repo), history=False) == 2
    assert ".secrets.baseline" in capsys.readouterr().err


def test_binary_huge_unreadable_and_fifo_files_never_crash(fleet_repo, cache, monkeypatch):
    from fleet.gates import secrets_gate

    (fleet_repo / "blob.bin").write_bytes(b"\x00\x01\x02" + os.urandom(500))
    monkeypatch.setattr(secrets_gate, "MAX_SCAN_BYTES", 1000)
    (fleet_repo / "huge.txt").write_text("a" * 5000)
    (fleet_repo / "gone.yaml").symlink_to(fleet_repo / "does-not-exist.yaml")
    os.mkfifo(fleet_repo / "pipe.yaml")  # reading it would block forever
    # in this process: the patched limit does not reach a child process
    _, found = secrets_findings(fleet_repo, cache, isolate=False)
    by_file = {f.file: f for f in found}
    assert by_file["huge.txt"].rule == "secrets:too-large" and by_file["huge.txt"].severity == "warning"
    assert by_file["gone.yaml"].rule == "secrets:unreadable" and by_file["gone.yaml"].severity == "error"
    assert "blob.bin" not in by_file and "pipe.yaml" not in by_file


def test_secret_value_never_appears_in_any_output(tmp_path, capsys, cache):
    repo = init_repo(tmp_path / "r")
    (repo / "a.py").write_text(secret_line())
    commit_all(repo, "key")
    (repo / "a.py").write_text("ok = 1\n")
    commit_all(repo, "removed")
    (repo / "b.py").write_text(keyword_line())
    for fmt in ("text", "json"):
        assert check_command(str(repo), fmt=fmt) == 1
        out = capsys.readouterr()
        text = out.out + out.err
        assert "a.py" in text and "b.py" in text
        assert AWS_KEY not in text and DB_VALUE not in text
    plans = list((repo / ".git").rglob("purge-plan.json"))
    assert plans
    plan_text = plans[0].read_text()
    assert AWS_KEY not in plan_text and json.loads(plan_text)["secrets"]
    for path in (repo / ".git" / "fleet-secrets-cache").iterdir():
        assert AWS_KEY not in path.read_text() and DB_VALUE not in path.read_text()


def test_baseline_cannot_turn_on_network_verification(fleet_repo, cache):
    from detect_secrets.settings import get_settings

    from fleet.gates import secret_scan

    secret_scan.configure({"plugins_used": [{"name": "AWSKeyDetector"}], "filters_used": [
        {"path": "detect_secrets.filters.common.is_ignored_due_to_verification_policies",
         "min_level": 2}]})
    assert not any("verification" in path for path in get_settings().filters)
    # and a scan with the same settings still finds the key, without any network call
    assert secret_scan.scan_raw_lines("a.py", secret_line().encode())


def test_pre_commit_hook_checks_only_the_given_files(tmp_path):
    import subprocess
    import sys

    repo = init_repo(tmp_path / "r")
    (repo / "clean.py").write_text("x = 1\n")
    (repo / "leak.py").write_text(secret_line())
    hook = [sys.executable, "-m", "fleet.gates.hook", "secrets"]
    ok = subprocess.run(hook + ["clean.py"], cwd=repo, capture_output=True, text=True)
    bad = subprocess.run(hook + ["leak.py"], cwd=repo, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert bad.returncode == 1 and "leak.py:1" in bad.stdout and AWS_KEY not in bad.stdout


def test_older_baseline_versions_in_history_are_not_secrets(tmp_path, cache):
    """A baseline's hashed_secret values look like hex secrets; old versions of it must not count."""
    repo = init_repo(tmp_path / "r")
    old = {"version": "1.5.0", "plugins_used": [], "filters_used": [],
           "results": {"a.py": [{"type": "Hex High Entropy String", "filename": "a.py", "line_number": 1,
                                 "hashed_secret": "5461491d1f51a0f3f1c3c1a9c7d2a3b4c5d6e7f8",
                                 "is_verified": False}]}, "generated_at": "2026-01-01T00:00:00Z"}
    (repo / ".secrets.baseline").write_text(json.dumps(old, indent=2))
    commit_all(repo, "old baseline")
    (repo / ".secrets.baseline").write_text(json.dumps({**old, "results": {}}, indent=2))
    commit_all(repo, "baseline emptied")
    _, found = secrets_findings(repo, cache)
    assert found == []
