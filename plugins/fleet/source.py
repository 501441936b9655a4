"""Source stage: snapshot a fleet repository into a content-addressed bundle.

The bundle's digest names everything downstream (the approval, the catalog version, the ledger), so
the digest must depend on content only: file paths and bytes, not mtimes or the machine. The tar
is written deterministically so the same tree always gives byte-identical bundles.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fleet.aws import AwsContext, error_code

SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".venv", "node_modules", ".mypy_cache"}
MANIFEST = "manifest.json"
TREE = "files"  # the bundle keeps the repo's files apart from its manifest, so gates scan only the repo


class SourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class Snapshot:
    root: Path
    commit: str | None
    dirty: bool
    files: dict[str, str] = field(hash=False)  # relative path -> sha256 of its bytes
    digest: str = ""

    @property
    def short(self) -> str:
        return self.digest[:12]

    def manifest(self) -> dict:
        return {"digest": self.digest, "commit": self.commit, "dirty": self.dirty, "files": self.files}


def snapshot(root: str | Path, ref: str | None = None) -> Snapshot:
    """Hash every file under ``root`` (tracked files only, when ``root`` is inside a git work tree).

    With ``ref``, the files are those of that commit, not of the working tree.
    """
    root = Path(root).resolve()
    if not root.is_dir():
        raise SourceError(f"{root}: the fleet repository folder does not exist")
    if ref:
        root, commit = _checkout(root, ref)
        return _hash_tree(root, commit, False, _walk(root))
    commit, dirty, tracked = _git_state(root)
    return _hash_tree(root, commit, dirty, tracked if tracked is not None else _walk(root))


def _checkout(root: Path, ref: str) -> tuple[Path, str]:
    """Export ``root``'s folder as it is at ``ref`` into a cache folder named by the commit.

    ``root`` may be a sub-folder of its repository (the default ``include/``): the archive is taken
    at the top level with the sub-folder's path as pathspec, since git reads a pathspec relative to
    the directory it runs in. Every git failure carries git's own message.
    """
    def git(*args: str, cwd: Path = root, check: bool = True) -> subprocess.CompletedProcess:
        done = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True)
        if check and done.returncode != 0:
            raise SourceError(f"{root}: `git {' '.join(args)}` exited {done.returncode}: "
                              f"{done.stderr.decode(errors='replace').strip() or 'no message'}")
        return done
    found = git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", check=False)
    if found.returncode != 0:
        raise SourceError(f"{root}: source_ref {ref!r} is not a commit, branch or tag of this repository")
    commit = found.stdout.decode().strip()
    top = Path(git("rev-parse", "--show-toplevel").stdout.decode().strip())
    prefix = git("rev-parse", "--show-prefix").stdout.decode().strip()
    dest = Path(tempfile.gettempdir()) / "fleet-sources" / commit / prefix
    if not dest.exists():
        archive = git("archive", "--format=tar", commit, "--", prefix or ".", cwd=top).stdout
        staging = Path(tempfile.mkdtemp(prefix="fleet-src-"))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(staging, filter="data")
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            (staging / prefix).rename(dest)
        except OSError:  # another task exported the same commit first
            shutil.rmtree(staging, ignore_errors=True)
    return dest, commit


def _hash_tree(root: Path, commit: str | None, dirty: bool, paths: list[str]) -> Snapshot:
    files = {}
    for rel in sorted(paths):
        p = root / rel
        if p.is_file():
            files[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    if not files:
        raise SourceError(f"{root}: no files to snapshot")
    return Snapshot(root, commit, dirty, files, content_digest(files))


def content_digest(files: dict[str, str]) -> str:
    """The bundle's identity: a hash over (path, file hash) pairs in path order."""
    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def _walk(root: Path) -> list[str]:
    out = []
    for p in root.rglob("*"):
        if p.is_file() and not (set(p.relative_to(root).parts) & SKIP_DIRS):
            out.append(p.relative_to(root).as_posix())
    return out


def _git_state(root: Path) -> tuple[str | None, bool, list[str] | None]:
    """(HEAD commit, uncommitted changes under root?, tracked+untracked-not-ignored files) or Nones."""
    def git(*args: str) -> str:
        return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                              text=True).stdout
    try:
        if git("rev-parse", "--is-inside-work-tree").strip() != "true":
            return None, False, None
    except (OSError, subprocess.CalledProcessError):
        return None, False, None
    try:
        commit = git("rev-parse", "HEAD").strip() or None
    except subprocess.CalledProcessError:
        commit = None  # a repository with no commit yet
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", ".")
    dirty = bool(git("status", "--porcelain", "--", ".").strip())
    return commit, dirty, [p for p in listed.split("\0") if p]


def bundle_bytes(snap: Snapshot) -> bytes:
    """A gzip'd tar of the snapshot's files plus its manifest, identical for identical content."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
        _add(tar, MANIFEST, json.dumps(snap.manifest(), indent=1, sort_keys=True).encode())
        for rel in snap.files:
            _add(tar, f"{TREE}/{rel}", (snap.root / rel).read_bytes())
    # gzip stores a timestamp in its header; zero it so the bytes depend on content only.
    data = bytearray(buf.getvalue())
    data[4:8] = b"\0\0\0\0"
    return bytes(data)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode, info.uid, info.gid = len(data), 0, 0o644, 0, 0
    tar.addfile(info, io.BytesIO(data))


def artifacts_bucket(management_account: str, region: str) -> str:
    return f"fleet-artifacts-{management_account}-{region}"


def bundle_key(digest: str) -> str:
    return f"bundles/{digest}/bundle.tar.gz"


def upload(ctx: AwsContext, snap: Snapshot, bucket: str) -> dict:
    """Upload the bundle unless that digest is already there; returns where it lives."""
    s3 = ctx.client("s3")
    key = bundle_key(snap.digest)
    try:
        s3.head_object(Bucket=bucket, Key=key)
        uploaded = False
    except Exception as exc:
        if error_code(exc) not in {"404", "NoSuchKey", "NotFound"}:
            raise
        s3.put_object(Bucket=bucket, Key=key, Body=bundle_bytes(snap),
                      Metadata={"digest": snap.digest, "commit": snap.commit or ""})
        s3.put_object(Bucket=bucket, Key=f"bundles/{snap.digest}/{MANIFEST}",
                      Body=json.dumps(snap.manifest(), indent=1, sort_keys=True).encode())
        uploaded = True
    return {"bucket": bucket, "key": key, "digest": snap.digest, "commit": snap.commit,
            "dirty": snap.dirty, "files": len(snap.files), "uploaded": uploaded}


def fetch(ctx: AwsContext, bucket: str, digest: str, dest: str | Path) -> Path:
    """Download and unpack a bundle; verify every file against the manifest; return its files' folder.

    Unpacked beside its final place and renamed into it only once verified, so two tasks on one
    worker fetching the same digest never see each other's half-written files.
    """
    final = Path(dest) / digest
    if (final / ".verified").exists():
        return final / TREE
    body = ctx.client("s3").get_object(Bucket=bucket, Key=bundle_key(digest))["Body"].read()
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=final.parent))
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        tar.extractall(staging, filter="data")
    manifest = json.loads((staging / MANIFEST).read_text())
    for rel, sha in manifest["files"].items():
        if hashlib.sha256((staging / TREE / rel).read_bytes()).hexdigest() != sha:
            raise SourceError(f"bundle {digest}: {rel} does not match its manifest")
    if content_digest(manifest["files"]) != digest:
        raise SourceError(f"bundle {digest}: manifest digest mismatch")
    (staging / ".verified").write_text(digest)
    if final.exists() and not (final / ".verified").exists():  # left half-made by an older crash
        shutil.rmtree(final, ignore_errors=True)
    try:
        staging.rename(final)
    except OSError:  # another task got there first with the same verified content
        shutil.rmtree(staging, ignore_errors=True)
    return final / TREE
