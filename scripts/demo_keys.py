"""Per-approver keys for `make demo` and `make up`, and the copy of the sample fleet that lists them.

The sample include/fleet.yaml names its approvers with public keys whose private keys exist
nowhere (nobody can approve with them). The demo makes a key pair per approver, once per
checkout, in .demo/keys/ (folder 700, private keys 600; .demo/ is never committed), and runs the
pipeline on .demo/fleet-repo: a git copy of include/ with those public keys in its fleet.yaml,
rebuilt at every start so it follows include/. Approvers then sign with
`fleet approve RUN_ID --approver NAME --key .demo/keys/NAME`.

    python scripts/demo_keys.py      # prints the fleet repo's path (scripts/up.sh uses it)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / ".demo"
KEYS = DEMO / "keys"

sys.path.insert(0, str(ROOT / "plugins"))

from fleet import sshkeys  # noqa: E402
from fleet.config import load_config  # noqa: E402


def approver_keys(names: list[str], keys: Path = KEYS) -> dict[str, str]:
    """{name: public key line}, making a key pair for each approver that has none yet."""
    lines = {}
    for name in names:
        private, public = keys / name, keys / f"{name}.pub"
        if not private.exists() or not public.exists():
            sshkeys.generate(keys, name)
        private.chmod(0o600)
        lines[name] = public.read_text().strip()
    keys.chmod(0o700)
    return lines


def prepare(demo: Path = DEMO) -> Path:
    """<demo>/fleet-repo: include/ with the demo approvers' public keys (<demo>/keys), as a git repository."""
    approvers = load_config(ROOT / "include" / "fleet.yaml").approval.approvers
    lines = approver_keys([a.name for a in approvers], demo / "keys")
    repo = demo / "fleet-repo"
    shutil.rmtree(repo, ignore_errors=True)
    shutil.copytree(ROOT / "include", repo, ignore=shutil.ignore_patterns("__pycache__", ".git"))
    cfg = repo / "fleet.yaml"
    text = cfg.read_text()
    for a in approvers:
        text = text.replace(a.public_key, lines[a.name])
    cfg.write_text(text)
    load_config(cfg)  # still valid, now with keys someone holds

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), "-c", "user.name=fleet demo", "-c",
                        "user.email=demo@example.com", "-c", "commit.gpgsign=false", *args],
                       check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-qm", "the sample fleet, with the demo approvers' public keys")
    return repo


if __name__ == "__main__":
    print(prepare())
