"""Issue 13 item 3 and issue 12 item 6: history secrets as good as tree secrets, nothing skipped
silently. Secret-looking values are assembled at run time (this file is scanned too)."""

from __future__ import annotations

from fleet.gates import run_gates

from .conftest import AWS_KEY, commit_all, git, init_repo, secret_line

# an unquoted value: only detect-secrets' YAML/INI/.env transformers see it as a keyword secret
UNQUOTED = "Zq8" + "vR2" + "mWx7" + "pLk4" + "Tn9s"


def secrets(repo, cache, **kw):
    report = run_gates(repo, gates={"secrets"}, cache_dir=cache, **kw)
    return report, [f for f in report.findings if f.gate == "secrets"]


def test_unquoted_yaml_ini_and_env_values_are_found_in_history_as_in_the_tree(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    files = {"app.yaml": f"db:\n  password: {UNQUOTED}\n",
             "app.ini": f"[db]\npassword = {UNQUOTED}\n",
             "prod.env": f"DB_PASSWORD={UNQUOTED}\n"}
    for name, text in files.items():
        (repo / name).write_text(text)
    commit_all(repo, "config")
    _, in_tree = secrets(repo, cache)
    tree_files = {f.file for f in in_tree if f.commit is None}
    for name in files:
        (repo / name).unlink()
    commit_all(repo, "removed")
    _, in_history = secrets(repo, cache)
    history_files = {f.file for f in in_history if f.commit}
    assert tree_files == set(files), in_tree
    assert history_files == tree_files, in_history


def test_every_place_a_secret_was_is_a_finding_with_its_commit(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    (repo / "keep.py").write_text(secret_line())
    first = commit_all(repo, "key in keep.py")
    (repo / "copy.py").write_text(secret_line())  # same bytes: the same blob as keep.py
    commit_all(repo, "copy")
    (repo / "copy.py").unlink()
    commit_all(repo, "copy removed")
    (repo / "old.py").write_text("x = 1\n" + secret_line())
    commit_all(repo, "old")
    (repo / "old.py").rename(repo / "renamed.py")
    moved = commit_all(repo, "renamed")
    (repo / "renamed.py").unlink()
    commit_all(repo, "renamed removed")
    report, found = secrets(repo, cache)
    places = {(f.file, f.commit is not None) for f in found if f.rule == "secrets:AWSKeyDetector"}
    # the tree finding plus the three places only history holds: nothing only in the purge plan
    assert places == {("keep.py", False), ("copy.py", True), ("old.py", True),
                      ("renamed.py", True)}, found
    by_file = {f.file: f for f in found if f.commit}
    assert by_file["renamed.py"].commit == moved
    assert set(report.purge_plan["paths"]) == {"keep.py", "copy.py", "old.py", "renamed.py"}
    assert first in report.purge_plan["commits"]
    assert AWS_KEY not in str(report.to_dict(full=True))


def test_history_blobs_over_the_size_limit_are_warnings(tmp_path, cache, monkeypatch):
    from fleet.gates import secrets_gate

    repo = init_repo(tmp_path / "r")
    (repo / "big.txt").write_text("a" * 5000)
    commit_all(repo, "big")
    (repo / "big.txt").unlink()
    commit_all(repo, "gone")
    monkeypatch.setattr(secrets_gate, "MAX_SCAN_BYTES", 1000)
    report, found = secrets(repo, cache, isolate=False)
    big = [f for f in found if f.file == "big.txt"]
    assert [(f.rule, f.severity) for f in big] == [("secrets:too-large", "warning")]
    assert any(item["file"] == "big.txt" for item in report.checked["skipped"])


def test_a_secrets_baseline_outside_the_repo_root_is_scanned(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    (repo / "docs").mkdir()
    (repo / "docs" / ".secrets.baseline").write_text(secret_line())
    (repo / "lib").mkdir()
    (repo / "lib" / ".secrets.baseline").write_text(secret_line().replace("id", "id2"))
    commit_all(repo, "hidden")
    git(repo, "rm", "-q", "lib/.secrets.baseline")
    commit_all(repo, "lib baseline removed")
    _, found = secrets(repo, cache)
    files = {(f.file, f.commit is not None) for f in found if f.rule == "secrets:AWSKeyDetector"}
    assert ("docs/.secrets.baseline", False) in files
    assert ("lib/.secrets.baseline", True) in files
