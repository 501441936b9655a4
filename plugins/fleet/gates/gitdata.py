"""Read git history for the secrets gate: every blob reachable from any ref, once each.

Everything goes through two long-lived git processes (rev-list piped into cat-file) instead of
one process per commit or per file, which is what keeps a 2,000-commit history to seconds.
"""

from __future__ import annotations

import hashlib
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator


class GitError(RuntimeError):
    pass


def blob_id(data: bytes) -> str:
    """git's object id for file content, so working-tree files share cache entries with history."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


@dataclass(frozen=True)
class HistoryBlob:
    oid: str
    size: int
    path: str  # a path the blob was reachable at (repo-relative), as rev-list reports it


def _git(git_dir: Path, *args: str, input: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", "--git-dir", str(git_dir), *args], input=input,
                          capture_output=True)
    if proc.returncode != 0:
        raise GitError(f"git {args[0]} failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def has_commits(git_dir: Path) -> bool:
    """False for a fresh `git init`: rev-list would fail on its unborn HEAD."""
    if _git(git_dir, "for-each-ref", "--count=1", "--format=%(objectname)").strip():
        return True
    head = subprocess.run(["git", "--git-dir", str(git_dir), "rev-parse", "--verify", "-q", "HEAD"],
                          capture_output=True)
    return head.returncode == 0


def history_blobs(git_dir: Path) -> list[HistoryBlob]:
    """Every blob reachable from any ref (and HEAD), each listed once with one path."""
    if not has_commits(git_dir):
        return []
    listing = _git(git_dir, "rev-list", "--all", "--objects")
    # HEAD may be detached and not under any ref
    head = subprocess.run(["git", "--git-dir", str(git_dir), "rev-list", "--objects", "HEAD"],
                          capture_output=True)
    if head.returncode == 0:
        listing += head.stdout
    checked = _git(
        git_dir, "cat-file", "--batch-check=%(objecttype) %(objectname) %(objectsize) %(rest)",
        input=listing,
    )
    blobs: dict[str, HistoryBlob] = {}
    for line in checked.decode("utf-8", errors="surrogateescape").splitlines():
        kind, _, rest = line.partition(" ")
        if kind != "blob":
            continue
        oid, size, path = (rest.split(" ", 2) + [""])[:3]
        if oid not in blobs:
            blobs[oid] = HistoryBlob(oid, int(size), path)
    return list(blobs.values())


def read_blobs(git_dir: Path, oids: Iterable[str]) -> Iterator[tuple[str, bytes]]:
    """Stream blob contents through one `git cat-file --batch` process."""
    oids = list(oids)
    if not oids:
        return
    proc = subprocess.Popen(["git", "--git-dir", str(git_dir), "cat-file", "--batch"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin and proc.stdout
    # feed requests from a thread while reading replies here: writing them all first would
    # deadlock once git's output pipe fills up

    def feed():
        try:
            for oid in oids:
                proc.stdin.write(oid.encode() + b"\n")
            proc.stdin.close()
        except BrokenPipeError:
            pass

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    try:
        for _ in oids:
            header = proc.stdout.readline().split()
            if len(header) < 3 or header[1] != b"blob":
                raise GitError(f"git cat-file: unexpected reply {header!r}")
            size = int(header[2])
            data = proc.stdout.read(size)
            proc.stdout.read(1)  # the newline after each object
            yield header[0].decode(), data
    finally:
        writer.join()
        proc.stdout.close()
        proc.wait()


def introductions(git_dir: Path, oids: set[str]) -> dict[str, list[tuple[str, str]]]:
    """For each blob id, the (commit, path) pairs that added it, oldest commit first.

    One `git log --raw` pass over all refs (-m: a blob first made while resolving a merge counts
    too); the first pair of each list is where a secret entered.
    """
    if not oids:
        return {}
    out = _git(git_dir, "log", "--all", "--reverse", "--topo-order", "-m", "--raw", "--no-abbrev",
               "--no-renames", "--format=commit %H")
    found: dict[str, list[tuple[str, str]]] = {}
    commit = None
    for line in out.decode("utf-8", errors="surrogateescape").splitlines():
        if line.startswith("commit "):
            commit = line[7:].strip()
        elif line.startswith(":") and commit:
            meta, _, path = line.partition("\t")
            parts = meta.split()
            if len(parts) >= 4 and parts[3] in oids:
                found.setdefault(parts[3], []).append((commit, path))
    return found

