"""Small git repositories built per test, served as file:// URLs (a remote with no server)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

INCLUDE = Path(__file__).resolve().parents[2] / "include"


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def fleet_remote(path: Path) -> tuple[Path, str]:
    """A git repository holding the sample fleet (include/) on branch main: (its folder, its URL)."""
    from tests.support.approval import render_keys

    shutil.copytree(INCLUDE, path, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    render_keys(path)  # the approvers' public keys: the test's own key pairs
    git(path, "init", "-q", "-b", "main")
    for key, value in (("user.email", "t@example.com"), ("user.name", "test"), ("commit.gpgsign", "false")):
        git(path, "config", key, value)
    commit(path, "the sample fleet")
    return path, path.resolve().as_uri()


def commit(path: Path, message: str) -> str:
    git(path, "add", "-A")
    git(path, "commit", "-q", "--allow-empty", "-m", message)
    return git(path, "rev-parse", "HEAD")
