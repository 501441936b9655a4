"""Issue 12 item 1: nothing from the repository under review is executed by the gates.

Each attack plants code that would leave a marker file (and the environment it saw) if it ran;
the tests check the marker is absent and the setting is refused with a finding naming file and key.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from fleet.gates import run_gates
from fleet.gates.isolation import child_environment
from fleet.gates.locate import cfn_guard_binary

from .conftest import commit_all, init_repo


def _payload(marker: Path) -> str:
    return ("import json, os\n"
            f"open({str(marker)!r}, 'w').write(json.dumps(dict(os.environ)))\n")


def test_cfnlintrc_append_rules_is_refused_and_never_imported(fleet_repo, cache, tmp_path):
    marker = tmp_path / "ran-append-rules"
    rules = fleet_repo / "myrules"
    rules.mkdir()
    (rules / "__init__.py").write_text(_payload(marker))
    (rules / "evil.py").write_text(_payload(marker))
    (fleet_repo / ".cfnlintrc").write_text("append_rules: [myrules]\n")
    found = run_gates(fleet_repo, gates={"lint"}, cache_dir=cache).findings
    assert not marker.exists(), "cfn-lint imported Python from the repository under review"
    refused = [f for f in found if f.rule == "lint:settings-refused"]
    assert refused and refused[0].file == ".cfnlintrc" and "append_rules" in refused[0].message
    assert refused[0].severity == "error"


def test_cfnlintrc_in_the_working_directory_is_not_merged_in(fleet_repo, cache, tmp_path,
                                                               monkeypatch):
    # cfn-lint reads ./.cfnlintrc on its own and merges its lists; in-process mode shows it
    marker = tmp_path / "ran-cwd-rules"
    rules = tmp_path / "cwd" / "cwdrules"
    rules.mkdir(parents=True)
    (rules / "evil.py").write_text(_payload(marker))
    (tmp_path / "cwd" / ".cfnlintrc").write_text(f"append_rules: [{rules}]\n")
    monkeypatch.chdir(tmp_path / "cwd")
    run_gates(fleet_repo, gates={"lint"}, cache_dir=cache, isolate=False)
    assert not marker.exists()


def test_cfnlintrc_data_paths_leaving_the_repo_are_refused(fleet_repo, cache):
    (fleet_repo / ".cfnlintrc").write_text("override_spec: /etc/passwd\n")
    found = run_gates(fleet_repo, gates={"lint"}, cache_dir=cache).findings
    assert any(f.rule == "lint:settings-refused" and "override_spec" in f.message for f in found)


def test_baseline_custom_plugin_and_filter_are_refused_and_never_imported(tmp_path, cache):
    repo = init_repo(tmp_path / "r")
    marker = tmp_path / "ran-plugin"
    (repo / "plugin.py").write_text(_payload(marker))
    (repo / "filt.py").write_text(_payload(marker) + "def keep(secret):\n    return False\n")
    baseline = {
        "version": "1.5.0",
        "plugins_used": [{"name": "AWSKeyDetector"},
                         {"name": "Evil", "path": f"file://{repo / 'plugin.py'}"}],
        "filters_used": [{"path": f"file://{repo / 'filt.py'}::keep"}],
        "results": {},
    }
    (repo / ".secrets.baseline").write_text(json.dumps(baseline))
    (repo / "a.txt").write_text("nothing here\n")
    commit_all(repo, "init")
    found = run_gates(repo, gates={"secrets"}, cache_dir=cache).findings
    assert not marker.exists(), "detect-secrets imported a plugin from the repository"
    refused = sorted(f.message.split(":")[0] for f in found if f.rule == "secrets:settings-refused")
    assert refused == ["filters_used[0].path", "plugins_used[1].path"]
    assert all(f.file == ".secrets.baseline" for f in found if f.rule == "secrets:settings-refused")


def test_conftest_and_pytest_settings_in_the_repo_are_not_run(fleet_repo, cache, tmp_path):
    marker = tmp_path / "ran-conftest"
    for place in (fleet_repo, fleet_repo / "features"):
        (place / "conftest.py").write_text(_payload(marker))
        (place / "pytest.ini").write_text("[pytest]\naddopts = -p evilplugin\n")
    (fleet_repo / "features" / "evilplugin.py").write_text(_payload(marker))
    (fleet_repo / "features" / "test_evil.py").write_text(_payload(marker))
    found = run_gates(fleet_repo, gates={"unit"}, cache_dir=cache).findings
    assert not marker.exists()
    assert [f for f in found if f.severity == "error"] == []


def test_gates_run_in_a_process_without_credentials(fleet_repo, cache, tmp_path, monkeypatch):
    # a stand-in cfn-guard records the environment of the gate process, then runs the real one
    real = cfn_guard_binary()
    assert real is not None
    seen = tmp_path / "guard-env"
    wrapper = tmp_path / "cfn-guard"
    wrapper.write_text(f"#!/bin/sh\nenv > {seen}\nexec {real} \"$@\"\n")
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("FLEET_CFN_GUARD", str(wrapper))
    planted = {"AWS_SECRET_ACCESS_KEY": "x" * 40, "AWS_ACCESS_KEY_ID": "AKIA0000",
               "AWS_SESSION_TOKEN": "t", "AIRFLOW_CONN_AWS_DEFAULT": "aws://a:b@",
               "FLEET_APPROVAL_KEY": "k", "FLEET_APPROVAL_KEY_FILE": "/k",
               "GITHUB_TOKEN": "g", "MY_DB_PASSWORD": "p"}
    for k, v in planted.items():
        monkeypatch.setenv(k, v)
    run_gates(fleet_repo, gates={"policy"}, cache_dir=cache)
    names = {line.split("=", 1)[0] for line in seen.read_text().splitlines() if "=" in line}
    assert names and not names & set(planted), names & set(planted)
    assert "PATH" in names  # the tools still find themselves


def test_child_environment_is_an_allow_list():
    env = child_environment({"PATH": "/bin", "AWS_REGION": "us-east-1", "FLEET_CFN_GUARD": "/g",
                             "FLEET_APPROVAL_SECRET": "s", "PYTHONPATH": "/repo",
                             "LC_ALL": "C", "SOMETHING": "1"})
    assert set(env) == {"PATH", "FLEET_CFN_GUARD", "LC_ALL", "PYTHONDONTWRITEBYTECODE"}
    assert os.environ.get("PATH") is not None


def test_the_gate_process_stops_when_its_caller_dies(fleet_repo, tmp_path):
    import shutil
    import signal
    import subprocess
    import sys
    import time

    # enough templates that the gates are still running long after the caller is killed
    for i in range(150):
        shutil.copy(fleet_repo / "templates" / "security-baseline.yaml",
                    fleet_repo / "templates" / f"copy-{i}.yaml")
    caller = subprocess.Popen([sys.executable, "-c", (
        "import sys; from fleet.gates import run_gates; "
        f"run_gates({str(fleet_repo)!r}, cache_dir={str(tmp_path / 'c')!r})")])
    child = None
    for _ in range(100):  # the caller starts its gate process
        out = subprocess.run(["pgrep", "-P", str(caller.pid)], capture_output=True, text=True)
        if out.stdout.strip():
            child = int(out.stdout.split()[0])
            break
        time.sleep(0.1)
    assert child is not None
    time.sleep(1)
    caller.send_signal(signal.SIGKILL)
    caller.wait()
    for _ in range(15):  # the watch looks every 0.5 s
        if subprocess.run(["kill", "-0", str(child)], capture_output=True).returncode != 0:
            break
        time.sleep(0.2)
    else:
        os.kill(child, signal.SIGKILL)
        raise AssertionError("the gate process outlived its caller")
