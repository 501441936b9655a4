"""Approvers' own keys: OpenSSH ``ssh-ed25519`` public key lines in the fleet config, the matching
OpenSSH private keys on the approvers' machines (the keys people already use for git).

The pipeline only ever holds public keys, so nothing on a worker can sign for anyone. A signature
covers a fixed domain prefix plus the canonical JSON of the decision, so a signature made for
another purpose with the same key (a git commit, an SSH login) can never pass as a decision.
"""

from __future__ import annotations

import base64
import binascii
import getpass
import hashlib
import os
import stat
import sys
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

DOMAIN = b"fleet-pipeline approval decision v1\n"
KEY_TYPE = "ssh-ed25519"


class SshKeyError(ValueError):
    """A key that cannot be used; the message says which and why."""


def parse_public_key(line: str) -> Ed25519PublicKey:
    """An ``ssh-ed25519 AAAA... [comment]`` line as a public key; anything else is refused."""
    parts = str(line or "").strip().split()
    if len(parts) < 2 or parts[0] != KEY_TYPE:
        raise SshKeyError(f"an OpenSSH {KEY_TYPE} public key line ('{KEY_TYPE} AAAA... comment') is expected")
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode())
    except (ValueError, binascii.Error, TypeError) as exc:
        raise SshKeyError(f"the {KEY_TYPE} key does not decode: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SshKeyError(f"an OpenSSH {KEY_TYPE} public key line is expected")
    return key


def public_line(key: Ed25519PublicKey | Ed25519PrivateKey, comment: str = "") -> str:
    if isinstance(key, Ed25519PrivateKey):
        key = key.public_key()
    raw = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    return f"{raw} {comment}".strip()


def fingerprint(key: Ed25519PublicKey | str) -> str:
    """``SHA256:...`` as ``ssh-keygen -lf`` prints it, to tell which key signed."""
    if isinstance(key, str):
        key = parse_public_key(key)
    blob = base64.b64decode(public_line(key).split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def load_private_key(path: str | Path, passphrase: bytes | None = None) -> Ed25519PrivateKey:
    """The OpenSSH ed25519 private key at ``path``; asks for its passphrase on a terminal if it has one."""
    path = Path(path).expanduser()
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SshKeyError(f"{path}: cannot read the private key: {exc.strerror}") from None
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):  # ssh refuses such a key too: others may have copied it
        raise SshKeyError(f"{path}: the private key is readable by others (mode {stat.S_IMODE(mode):o}); "
                        f"chmod 600 {path}")
    try:
        key = serialization.load_ssh_private_key(data, password=passphrase)
    except TypeError:  # encrypted, and no passphrase given
        if passphrase is not None or not sys.stdin.isatty():
            raise SshKeyError(f"{path}: the private key is encrypted; run on a terminal to enter its passphrase") \
                from None
        return load_private_key(path, getpass.getpass(f"Passphrase for {path}: ").encode())
    except UnsupportedAlgorithm:  # cryptography decrypts OpenSSH keys with the bcrypt package
        raise SshKeyError(f"{path}: passphrase-protected OpenSSH keys need the 'bcrypt' package, which is not "
                          "installed; use a key without a passphrase kept owner-only (chmod 600)") from None
    except ValueError as exc:
        if passphrase is not None and "checksum" in str(exc):  # cryptography's words for a wrong passphrase
            raise SshKeyError(f"{path}: wrong passphrase for the private key") from None
        raise SshKeyError(f"{path}: not an OpenSSH private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SshKeyError(f"{path}: an {KEY_TYPE} private key is expected (ssh-keygen -t ed25519)")
    return key


def sign(key: Ed25519PrivateKey, message: bytes) -> str:
    return base64.b64encode(key.sign(DOMAIN + message)).decode()


def verify(key: Ed25519PublicKey, message: bytes, signature: str) -> bool:
    try:
        key.verify(base64.b64decode(str(signature), validate=True), DOMAIN + message)
        return True
    except (InvalidSignature, binascii.Error, ValueError):
        return False


def generate(folder: str | Path, name: str) -> tuple[Path, str]:
    """A new key pair for ``name`` in ``folder`` (owner-only): (private key path, public key line).

    For the demo and the tests; people use their own ``ssh-keygen -t ed25519`` keys.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    key = Ed25519PrivateKey.generate()
    private = folder / name
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                    serialization.NoEncryption()))
    private.chmod(0o600)
    line = public_line(key, name)
    (folder / f"{name}.pub").write_text(line + "\n")
    return private, line
