"""What the approval gate's tests share: the artifacts bucket it uses and a task context as
Airflow hands it to an operator (without a scheduler)."""

from __future__ import annotations

from dataclasses import dataclass, field

from fleet import source

BUCKET = source.artifacts_bucket("123456789012", "us-east-1")


@dataclass
class FakeDagRun:
    triggering_user_name: str | None = "alice"
    conf: dict = field(default_factory=dict)
    dag_id: str = "account_fleet_pipeline"


def context(run_id: str = "manual__2026-11-28T10:00:00+00:00", triggered_by: str | None = "alice",
            conf: dict | None = None) -> dict:
    return {"run_id": run_id, "dag_run": FakeDagRun(triggered_by, conf or {}), "params": {}}


# -- approvers' own keys: made per test run, never committed --------------------------------------
SAMPLE_APPROVERS = ("platform-lead", "security-lead")
_sample_keys: dict[str, tuple] = {}


def make_keys(folder, names=SAMPLE_APPROVERS) -> dict[str, dict]:
    """A fresh ed25519 key pair per approver in ``folder``: {name: {path, public_key, email, identity}}."""
    from fleet import sshkeys

    made = {}
    for name in names:
        path, line = sshkeys.generate(folder, name)
        made[name] = {"path": path, "public_key": line, "email": f"{name}@example.com",
                      "identity": {"name": name, "email": f"{name}@example.com", "public_key": line}}
    return made


def sample_keys() -> dict[str, dict]:
    """Key pairs for the sample config's approvers, made once per test process (a temp folder)."""
    import tempfile

    if not _sample_keys:
        _sample_keys.update(make_keys(tempfile.mkdtemp(prefix="approver-keys-")))
    return _sample_keys


def render_keys(repo, keys: dict[str, dict] | None = None) -> None:
    """Put ``keys``' public keys (default: sample_keys()) into the fleet.yaml of a copy of the sample
    fleet, in place of the sample's own (whose private keys exist nowhere)."""
    from pathlib import Path

    from fleet.config import load_config

    keys = keys or sample_keys()
    cfg = Path(repo) / "fleet.yaml"
    text = cfg.read_text()
    for approver in load_config(cfg).approval.approvers:
        if approver.name in keys:
            text = text.replace(approver.public_key, keys[approver.name]["public_key"])
    cfg.write_text(text)


def key_path(approver: str) -> str:
    return str(sample_keys()[approver]["path"])
