"""The Airflow UI users of `make up` and the compose setup: `admin`, plus one user per approver in the
fleet config, so an approver logs in and decides in Required actions as themselves.

Passwords go into the simple auth manager's password file (the one `airflow standalone` uses),
created owner-only; a password is generated only for a user the file does not hold yet, and
printed once, when it is made. Prints the ``[core] simple_auth_manager_users`` value on stdout.
With ``--expect USERS`` (the compose file's fixed list) it fails, naming them, when an approver of
the config has no UI user there.

    python -m fleet_airflow.ui_users --config include/fleet.yaml --passwords PATH [--admin NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
from pathlib import Path

ADMIN = "admin"
# Approvers trigger, read and answer Required actions; the simple auth manager's "user" role is
# enough for that (admin keeps the rest: pools, connections, variables).
APPROVER_ROLE = "user"


def approver_names(config_path: Path) -> list[str]:
    from fleet.config import load_config

    approvers = load_config(config_path).approval.approvers
    return [a if isinstance(a, str) else a.name for a in approvers]


def ensure_passwords(path: Path, users: list[str]) -> dict[str, str]:
    """The users missing from the file get a generated password; returns the new ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    known: dict[str, str] = {}
    if path.exists() and path.read_text().strip():
        known = json.loads(path.read_text())
    new = {u: secrets.token_urlsafe(12) for u in users if u not in known}
    if new or not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(json.dumps({**known, **new}) + "\n")
    os.chmod(path, 0o600)  # also for a file an earlier `airflow standalone` left world-readable
    return new


def users_setting(admin: str, approvers: list[str]) -> str:
    """``[core] simple_auth_manager_users``: name:role, comma separated."""
    return ",".join([f"{admin}:admin", *[f"{a}:{APPROVER_ROLE}" for a in approvers if a != admin]])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--passwords", type=Path, required=True)
    parser.add_argument("--admin", default=ADMIN)
    parser.add_argument("--expect", help="the users setting in force; fail if an approver is missing from it")
    args = parser.parse_args(argv)
    approvers = approver_names(args.config)
    if args.expect is not None:
        have = {u.split(":", 1)[0] for u in args.expect.split(",") if u}
        if missing := [a for a in approvers if a not in have]:
            print(f"ui_users: approval.approvers in {args.config} has no UI user for {', '.join(missing)}; "
                  f"add them to simple_auth_manager_users (expected: {users_setting(args.admin, approvers)})",
                  file=sys.stderr)
            return 2
    users = [args.admin, *[a for a in approvers if a != args.admin]]
    for user, password in ensure_passwords(args.passwords, users).items():
        print(f"==> UI user {user!r}: password {password} (kept in {args.passwords}, owner-only)", file=sys.stderr)
    print(users_setting(args.admin, approvers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
