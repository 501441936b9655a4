"""Approvers' keys in the config and on the approver's machine: what `fleet approve --key` and the
config loader accept and refuse (no AWS; key pairs made per test)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from fleet import cli, sshkeys
from fleet.config import ConfigError, load_config

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "include" / "fleet.yaml"


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "include", tmp_path / "include")
    return tmp_path / "include"


def problems(fleet_dir: Path, old: str, new: str) -> list[str]:
    cfg = fleet_dir / "fleet.yaml"
    text = cfg.read_text()
    assert old in text
    cfg.write_text(text.replace(old, new, 1))
    with pytest.raises(ConfigError) as err:
        load_config(cfg)
    return [str(p) for p in err.value.problems]


def sample_key(name: str) -> str:
    return next(a.public_key for a in load_config(SAMPLE).approval.approvers if a.name == name)


def test_the_sample_names_each_approver_with_an_email_and_an_ed25519_key():
    approvers = load_config(SAMPLE).approval.approvers
    assert [a.name for a in approvers] == ["platform-lead", "security-lead"]
    for a in approvers:
        sshkeys.parse_public_key(a.public_key)
        assert a.email == f"{a.name}@example.com"


@pytest.mark.parametrize("old, new, expected", [
    ("      email: platform-lead@example.com\n", "", "approval.approvers[0]"),
    ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI", "ssh-rsa AAAAB3NzaC1yc2EAAAAD", "ssh-ed25519 public key line"),
    ("platform-lead@example.com", "security-lead@example.com", "an email no other approver has"),
    ("- name: platform-lead", "- name: security-lead", "a name no other approver has"),
])
def test_bad_approvers_are_refused_with_file_key_and_line(fleet_dir, old, new, expected):
    found = problems(fleet_dir, old, new)
    assert any(expected in p for p in found), found
    assert all(p.startswith(str(fleet_dir / "fleet.yaml") + ":") for p in found)


def test_the_old_list_of_bare_names_is_refused(fleet_dir):
    """The shape before per-approver keys: a name alone proves nothing."""
    block = ("    - name: platform-lead\n      email: platform-lead@example.com\n"
             f"      public_key: {sample_key('platform-lead')}\n")
    found = problems(fleet_dir, block, "    - platform-lead\n")
    assert any("approval.approvers[0]: an approver: {name, email, public_key}" in p for p in found), found


def test_one_key_for_two_approvers_is_refused(fleet_dir):
    """A shared key could sign as either person: the two-person rule would be one person."""
    found = problems(fleet_dir, sample_key("security-lead"), sample_key("platform-lead"))
    assert any("approval.approvers[1].public_key: a public key no other approver has" in p for p in found), found


def test_a_key_that_matches_the_pattern_but_does_not_decode_is_refused(fleet_dir):
    bad = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + "A" * 42 + "!"
    found = problems(fleet_dir, sample_key("platform-lead"), bad)
    assert any("approval.approvers[0].public_key" in p for p in found), found


def test_signature_binds_the_message_and_the_key():
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    sig = sshkeys.sign(key, b"decision")
    assert sshkeys.verify(key.public_key(), b"decision", sig)
    assert not sshkeys.verify(key.public_key(), b"decisioN", sig)
    assert not sshkeys.verify(other.public_key(), b"decision", sig)
    # A plain ed25519 signature of the same bytes (no domain prefix: e.g. made for another tool) fails.
    import base64
    assert not sshkeys.verify(key.public_key(), b"decision", base64.b64encode(key.sign(b"decision")).decode())


def write_key(path: Path, key, password: bytes | None = None, mode: int = 0o600) -> Path:
    enc = serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc))
    path.chmod(mode)
    return path


def test_private_keys_load_only_when_owner_only_and_ed25519(tmp_path):
    good = write_key(tmp_path / "good", Ed25519PrivateKey.generate())
    assert isinstance(sshkeys.load_private_key(good), Ed25519PrivateKey)
    with pytest.raises(sshkeys.SshKeyError, match="readable by others"):
        sshkeys.load_private_key(write_key(tmp_path / "open", Ed25519PrivateKey.generate(), mode=0o644))
    with pytest.raises(sshkeys.SshKeyError, match="ed25519 private key is expected"):
        sshkeys.load_private_key(write_key(tmp_path / "ecdsa", ec.generate_private_key(ec.SECP256R1())))
    locked = tmp_path / "locked"
    keygen = shutil.which("ssh-keygen")
    assert keygen, "ssh-keygen (OpenSSH client) is needed to make a passphrase-protected key for this test"
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "pass phrase", "-f", str(locked)], check=True)
    with pytest.raises(sshkeys.SshKeyError, match="encrypted"):  # no terminal here to ask for the passphrase
        sshkeys.load_private_key(locked)
    assert isinstance(sshkeys.load_private_key(locked, b"pass phrase"), Ed25519PrivateKey)
    with pytest.raises(sshkeys.SshKeyError, match="wrong passphrase"):
        sshkeys.load_private_key(locked, b"not the phrase")
    (tmp_path / "junk").write_text("not a key")
    (tmp_path / "junk").chmod(0o600)
    with pytest.raises(sshkeys.SshKeyError, match="not an OpenSSH private key"):
        sshkeys.load_private_key(tmp_path / "junk")


def test_generated_keys_are_owner_only_and_round_trip(tmp_path):
    path, line = sshkeys.generate(tmp_path / "keys", "platform-lead")
    assert (path.stat().st_mode & 0o777) == 0o600 and ((tmp_path / "keys").stat().st_mode & 0o777) == 0o700
    assert sshkeys.public_line(sshkeys.load_private_key(path), "platform-lead") == line
    assert sshkeys.fingerprint(line).startswith("SHA256:")


def test_fleet_approve_refuses_an_unusable_key_before_touching_the_store(tmp_path, capsys):
    loose = write_key(tmp_path / "loose", Ed25519PrivateKey.generate(), mode=0o640)
    assert cli.main(["approve", "run-1", "--approver", "platform-lead", "--key", str(loose)]) == 2
    assert "readable by others" in capsys.readouterr().err
    assert cli.main(["approve", "run-1", "--approver", "platform-lead", "--key", str(tmp_path / "none")]) == 2
    assert "cannot read the private key" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --key is required: there is no shared key to fall back on
        cli.main(["approve", "run-1", "--approver", "platform-lead"])
