"""Where the gates find their rules, features, settings and engines."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

# plugins/fleet/gates/locate.py -> repo root is three levels above plugins/fleet/gates
_REPO = Path(__file__).resolve().parents[3]


def repo_root() -> Path:
    return _REPO


def default_check_path() -> Path:
    return _REPO / "include"


def rules_dir(root: Path, explicit: Path | None = None) -> Path | None:
    """root/policies when present, else FLEET_POLICIES_DIR, else the package's include/policies."""
    if explicit is not None:
        return explicit
    if (root / "policies").is_dir():
        return root / "policies"
    env = os.environ.get("FLEET_POLICIES_DIR")
    if env:
        return Path(env)
    bundled = _REPO / "include" / "policies"
    # installed elsewhere (site-packages): the bundled rules are not beside the package
    return bundled if bundled.is_dir() else None


def features_dir(root: Path) -> Path | None:
    return root / "features" if (root / "features").is_dir() else None


def git_toplevel(path: Path) -> Path | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--show-toplevel"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return Path(out) if out else None


def git_dir(path: Path) -> Path | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "--absolute-git-dir"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    except (subprocess.CalledProcessError, FileNotFoundError):
        return None
    return Path(out) if out else None


def settings_file(root: Path, names: tuple[str, ...]) -> Path | None:
    """A tool's settings file: in the scanned root, else the git repo holding it, else this repo."""
    places = [root]
    top = git_toplevel(root)
    if top is not None:
        places.append(top)
    places.append(_REPO)
    for place in places:
        for name in names:
            if (place / name).is_file():
                return place / name
    return None


def cfn_guard_binary() -> Path | None:
    env = os.environ.get("FLEET_CFN_GUARD")
    if env:
        return Path(env) if Path(env).is_file() else None
    beside = Path(sys.prefix) / "bin" / "cfn-guard"
    if beside.is_file():
        return beside
    found = shutil.which("cfn-guard")
    return Path(found) if found else None


INSTALL_GUARD_HINT = (
    "install it with `python scripts/install_tools.py` (pinned cfn-guard 3.1.1 into the venv), "
    "or set FLEET_CFN_GUARD to a cfn-guard 3.x binary"
)
INSTALL_REGO_HINT = "install it with `pip install gordon-to-regorus==0.13.0`"
