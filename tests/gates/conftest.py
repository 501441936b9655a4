"""Shared fixtures for the gate tests: small fleet repos and git histories built per test.

Secret-looking strings are assembled at run time so this source file holds none itself
(the repo's own secrets gate scans it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
INCLUDE = REPO / "include"

# AWS's documented example key id with its last letter changed; split so no scanner sees it here
AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLF"
DB_VALUE = "hunter2" + "isverysecret" + "X9"


def secret_line() -> str:
    return f'aws_access_key_id = "{AWS_KEY}"\n'


def keyword_line() -> str:
    return f'db_password = "{DB_VALUE}"\n'


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True,
                          text=True).stdout.strip()


def init_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.email", "t@example.com")
    git(path, "config", "user.name", "test")
    git(path, "config", "commit.gpgsign", "false")
    return path


def commit_all(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "-m", message)
    return git(path, "rev-parse", "HEAD")


@pytest.fixture
def fleet_repo(tmp_path: Path) -> Path:
    """A copy of the sample include/ (templates, fleet.yaml, features) without policies."""
    root = tmp_path / "fleet"
    shutil.copytree(INCLUDE / "templates", root / "templates")
    shutil.copytree(INCLUDE / "features", root / "features")
    # `fleet check` loads the config: the SCP it names lives under policies/, which is left out
    # (the bundled rules apply), so the copy names none
    config = (INCLUDE / "fleet.yaml").read_text()
    scps = "scps: [policies/scp/deny-leave-organization.json]"
    assert scps in config
    (root / "fleet.yaml").write_text(config.replace(scps, "scps: []"))
    return root


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"
