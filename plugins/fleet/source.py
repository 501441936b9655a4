"""Source stage: snapshot a fleet repository into a content-addressed bundle.

The bundle's digest names everything downstream (the approval, the catalog version, the ledger), so
the digest must depend on content only: file paths and bytes, not mtimes or the machine. The tar
is written deterministically so the same tree always gives byte-identical bundles.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
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
    cache = private_dir(Path(tempfile.gettempdir()) / "fleet-sources")
    dest = cache / commit / prefix
    blobs = _git_blobs(git, commit, prefix)
    if dest.exists() and not _matches_blobs(dest, blobs):  # changed since exported: not trusted
        shutil.rmtree(cache / commit, ignore_errors=True)
    if not dest.exists():
        archive = git("archive", "--format=tar", commit, "--", prefix or ".", cwd=top).stdout
        staging = Path(tempfile.mkdtemp(prefix="fleet-src-", dir=cache))
        try:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(staging, filter="data")
            dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            try:
                (staging / prefix).rename(dest)
            except OSError:  # another task exported the same commit first; it is checked on next use
                pass
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return dest, commit


def _git_blobs(git, commit: str, prefix: str) -> dict[str, str]:
    """Path under ``prefix`` -> git blob id of every file of ``commit`` there (what the export must hold)."""
    out = git("ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".", check=True).stdout
    blobs = {}
    for entry in out.split(b"\0"):
        if entry:
            meta, path = entry.split(b"\t", 1)
            mode, kind, blob = meta.split()
            if kind == b"blob":
                blobs[path.decode()[len(prefix):]] = blob.decode()
    return blobs


def _matches_blobs(dest: Path, blobs: dict[str, str]) -> bool:
    """The exported folder holds exactly the commit's files, byte for byte (git's own blob ids)."""
    found = {}
    for p in dest.rglob("*"):
        if p.is_symlink() or p.is_file():
            found[p.relative_to(dest).as_posix()] = p
    if set(found) != set(blobs):
        return False
    for rel, p in found.items():
        data = os.readlink(p).encode() if p.is_symlink() else p.read_bytes()
        if hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() != blobs[rel]:
            return False
    return True


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
    """Download and unpack a bundle; check it is its manifest exactly; return its files' folder.

    A bundle is exactly its manifest: a file missing, a file the manifest does not list (a
    ``.cfnlintrc`` slipped into a replaced object), a symlink or a changed byte refuses it. The
    unpacked copy is a cache in a private (0700) folder named by the digest and is checked again on
    every use; a copy that no longer matches is thrown away and fetched again, never trusted.
    Unpacked beside its final place and renamed into it only once verified, so two tasks on one
    worker fetching the same digest never see each other's half-written files.
    """
    final = Path(dest) / digest
    private_dir(final.parent)
    if (final / ".verified").exists():
        try:
            verify_unpacked(final, digest)
            return final / TREE
        except SourceError:  # changed since it was verified: not trusted, fetched again
            shutil.rmtree(final, ignore_errors=True)
    body = ctx.client("s3").get_object(Bucket=bucket, Key=bundle_key(digest))["Body"].read()
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=final.parent))
    try:
        with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
            tar.extractall(staging, filter="data")
        verify_unpacked(staging, digest)
        (staging / ".verified").write_text(digest)
        if final.exists():  # left half-made by an older crash, or failed its check above
            shutil.rmtree(final, ignore_errors=True)
        try:
            staging.rename(final)
        except OSError:  # another task got there first with the same verified content
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a refused or broken bundle leaves nothing behind
        raise
    return final / TREE


def verify_unpacked(folder: Path, digest: str) -> None:
    """``folder`` holds the manifest of ``digest`` and the files it lists, nothing else."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        listed = manifest["files"]
        if not isinstance(listed, dict):
            raise TypeError("files is not a mapping")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SourceError(f"bundle {digest}: no readable manifest ({exc})") from None
    if content_digest(listed) != digest:
        raise SourceError(f"bundle {digest}: manifest digest mismatch")
    top = {p.name for p in folder.iterdir()} - {MANIFEST, TREE, ".verified"}
    if top:
        raise SourceError(f"bundle {digest}: files outside the manifest: {', '.join(sorted(map(repr, top)))}")
    tree = folder / TREE
    found = {}
    for p in tree.rglob("*") if tree.is_dir() else ():
        rel = p.relative_to(tree).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            raise SourceError(f"bundle {digest}: {rel!r} is not a regular file (a bundle holds files only)")
        if p.is_file():
            found[rel] = p
    extra, missing = sorted(set(found) - set(listed)), sorted(set(listed) - set(found))
    if extra:
        raise SourceError(f"bundle {digest}: files not in its manifest: {', '.join(map(repr, extra))}")
    if missing:
        raise SourceError(f"bundle {digest}: files of its manifest missing: {', '.join(map(repr, missing))}")
    for rel, sha in listed.items():
        if hashlib.sha256(found[rel].read_bytes()).hexdigest() != sha:
            raise SourceError(f"bundle {digest}: {rel!r} does not match its manifest")


def private_dir(path: Path) -> Path:
    """Create ``path`` owner-only (0700), or refuse one that others could write into: a cache
    another local user can fill is not a cache this process may trust."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = path.stat()
    if hasattr(os, "getuid") and st.st_uid != os.getuid():
        raise SourceError(f"{path}: the cache folder belongs to another user (uid {st.st_uid}); refusing to use it")
    if st.st_mode & 0o077:
        path.chmod(0o700)
    return path
