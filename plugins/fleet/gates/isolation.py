"""Run the gates in a child process that holds no credentials.

The gates read the repository under review and hand parts of it to tools (cfn-lint, cfn-guard,
detect-secrets, pytest-bdd). Options that load code from the repo are refused where they are read
(lint.cfnlint_args, secrets_gate.load_baseline); this is the second wall: whatever a tool might
still do with repo content happens in a fresh interpreter whose environment is an allow-list
(no AWS_*, no AIRFLOW_CONN_*, no FLEET_APPROVAL*, nothing named like a key or a token), started in
an empty folder, with no memory shared with the caller (which may hold an approval key).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

# variables a tool needs to find itself, its locale and a temp folder; nothing else crosses
_KEEP = {"PATH", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP", "SYSTEMROOT", "VIRTUAL_ENV",
         "XDG_CACHE_HOME"}
_KEEP_PREFIXES = ("LC_", "FLEET_")
_SECRETISH = re.compile(r"KEY|SECRET|TOKEN|PASSW|CREDENTIAL|APPROV|PRIVATE|AUTH|SESSION|CONN|"
                        r"COOKIE|SIGN|CERT", re.I)
_PLUGINS = Path(__file__).resolve().parents[2]  # the folder that holds the fleet package


def child_environment(environ: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the gates run in: an allow-list, minus anything secret-looking."""
    environ = dict(os.environ if environ is None else environ)
    env = {k: v for k, v in environ.items()
           if (k in _KEEP or k.startswith(_KEEP_PREFIXES)) and not _SECRETISH.search(k)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def run_in_child(request: dict, timeout: float | None = None) -> dict:
    """Run runner.run_here(**request) in a clean interpreter; return its JSON answer.

    Raises ChildFailed when the child dies without an answer (its stderr tail in the message).
    """
    with tempfile.TemporaryDirectory(prefix="fleet-gates-") as scratch:
        env = child_environment()
        # HOME stays: git reads safe.directory from ~/.gitconfig; ~/.cfnlintrc is ignored by lint
        if "HOME" in os.environ:
            env["HOME"] = os.environ["HOME"]
        # -I: ignore PYTHON* variables and the user site; the package path is given explicitly
        code = (f"import sys; sys.path.insert(0, {str(_PLUGINS)!r}); "
                "from fleet.gates.runner import child_main; sys.exit(child_main())")
        proc = subprocess.run([sys.executable, "-I", "-c", code], input=json.dumps(request),
                              capture_output=True, text=True, env=env, cwd=scratch,
                              timeout=timeout)
    answer = None
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("{"):
            try:
                answer = json.loads(line)
            except json.JSONDecodeError:
                pass
            break
    if answer is None:
        tail = proc.stderr.strip().splitlines()[-1:] or [f"exit {proc.returncode}"]
        raise ChildFailed(f"gate process ended without a report ({tail[0][:300]})")
    return answer


class ChildFailed(RuntimeError):
    pass
