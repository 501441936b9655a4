"""Caches on a worker or a laptop are private to the user who runs the pipeline.

A cache folder another user (or another tenant of a shared /tmp) can write to is a way around every
gate: a planted ``.verified`` bundle, an edited source export or a cleared gate result would be
trusted. So a cache folder is created owner-only (0700), refused when it is a symlink, owned by
someone else or open to others, and its files are written 0600; the callers re-verify an entry's
content on every use and rebuild it when it does not match.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path


class CacheError(RuntimeError):
    """A cache folder that cannot be trusted (not ours, open to others, a symlink)."""


def private_dir(path: str | Path) -> Path:
    """``path`` created (with its missing parents) owner-only, or checked to be: ours, 0700, no symlink."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not stat.S_ISDIR(st.st_mode):
        raise CacheError(f"{path}: a cache folder must be a real folder, not a symlink or a file")
    if st.st_uid != os.getuid():
        raise CacheError(f"{path}: the cache folder belongs to uid {st.st_uid}, not to this user "
                         f"({os.getuid()}); refusing to trust it")
    if st.st_mode & 0o077:
        os.chmod(path, 0o700)  # ours, but made with a loose umask: close it (entries are re-verified anyway)
    return path


def private_file_ok(path: Path) -> bool:
    """A cache file we may read: a regular file (not a symlink) owned by us, writable by nobody else."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o022


def write_private(path: Path, data: bytes) -> None:
    """Write ``path`` 0600 atomically (a reader never sees half a file)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def seal_key(directory: Path) -> bytes:
    """This cache folder's own secret (0600): entries are sealed with it, so an entry copied in from
    elsewhere or edited in place is detected, not trusted."""
    path = directory / ".seal-key"
    if private_file_ok(path):
        try:
            key = bytes.fromhex(path.read_text(encoding="ascii").strip())
        except (OSError, ValueError):
            key = b""
        if len(key) == 32:
            return key
    key = secrets.token_bytes(32)
    write_private(path, key.hex().encode())
    return key


def seal(key: bytes, name: str, body: bytes) -> str:
    return hmac.new(key, name.encode() + b"\0" + body, hashlib.sha256).hexdigest()


def sealed_ok(key: bytes, name: str, body: bytes, mac: str) -> bool:
    return isinstance(mac, str) and hmac.compare_digest(seal(key, name, body), mac)


def load_sealed(directory: Path, filename: str, name: str):
    """The JSON stored under ``filename`` by ``store_sealed`` with the same ``name`` (what the entry is
    for: gate and content key), or None when it is absent, not ours, or its seal does not match."""
    import json

    try:
        directory = private_dir(directory)
        path = directory / filename
        if not private_file_ok(path):
            return None
        doc = json.loads(path.read_bytes())
        body = doc["body"].encode()
        if doc.get("name") != name or not sealed_ok(seal_key(directory), name, body, doc.get("mac")):
            return None
        return json.loads(body)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, CacheError):
        return None


def store_sealed(directory: Path, filename: str, name: str, data) -> None:
    """Store ``data`` as JSON, 0600, sealed with the folder's key and bound to ``name``."""
    import json

    directory = private_dir(directory)
    body = json.dumps(data)
    doc = {"name": name, "mac": seal(seal_key(directory), name, body.encode()), "body": body}
    write_private(directory / filename, json.dumps(doc).encode())
