"""Source stage: snapshot a fleet repository into a content-addressed bundle.

The bundle's digest names everything downstream (the approval, the catalog version, the ledger), so
the digest must depend on content only: file paths and bytes, not mtimes or the machine. The tar
is written deterministically so the same tree always gives byte-identical bundles.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from fleet.aws import AwsContext, error_code
from fleet.cachedir import private_dir
from fleet.display import escape as escape_name

SKIP_DIRS = {".git", "__pycache__", ".pytest_cache", ".venv", "node_modules", ".mypy_cache"}
MANIFEST = "manifest.json"
TREE = "files"  # the bundle keeps the repo's files apart from its manifest, so gates scan only the repo
_DIGEST = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger(__name__)


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
    base = private_dir(Path(tempfile.gettempdir()) / "fleet-sources")
    dest = base / commit / prefix
    if dest.exists() or dest.is_symlink():
        problem = _export_problem(git, top, commit, prefix, dest)
        if problem is None:
            return dest, commit
        log.warning("source_ref %s: the cached export in %s cannot be trusted (%s); exporting it again",
                    commit[:12], base, problem)
        _remove(base / commit)
    archive = git("archive", "--format=tar", commit, "--", prefix or ".", cwd=top).stdout
    staging = Path(tempfile.mkdtemp(prefix="fleet-src-", dir=base))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                tar.extractall(staging, filter="data")
        except tarfile.TarError as exc:  # e.g. a committed symlink pointing out of the repository
            raise SourceError(f"{root}: {commit[:12]} cannot be exported safely ({escape_name(str(exc))})") from None
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            (staging / prefix).rename(dest)
        except OSError:  # another task exported the same commit first; it is verified below
            pass
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    problem = _export_problem(git, top, commit, prefix, dest)
    if problem is not None:
        raise SourceError(f"{root}: the export of {commit[:12]} does not match the commit ({problem})")
    return dest, commit


def _export_problem(git, top: Path, commit: str, prefix: str, dest: Path) -> str | None:
    """Why the exported folder ``dest`` is not exactly ``prefix`` at ``commit`` (by git's own blob ids:
    every file, nothing else), or None. The cache is keyed by the commit; this keeps it honest."""
    if dest.is_symlink() or not dest.is_dir():
        return "not a folder"
    listed = git("ls-tree", "-r", "-z", "--full-tree", commit, "--", prefix or ".", cwd=top).stdout.decode(
        "utf-8", errors="surrogateescape")
    expected: dict[str, tuple[str, str]] = {}
    for item in filter(None, listed.split("\0")):
        meta, path = item.split("\t", 1)
        mode, kind, oid = meta.split()
        if kind == "blob":
            expected[path[len(prefix):]] = (mode, oid)
    present = {p.relative_to(dest).as_posix(): p for p in dest.rglob("*") if p.is_symlink() or not p.is_dir()}
    if set(present) != set(expected):
        extra, missing = sorted(set(present) - set(expected)), sorted(set(expected) - set(present))
        return f"extra {[escape_name(x) for x in extra]}, missing {[escape_name(x) for x in missing]}"
    for rel, (mode, oid) in expected.items():
        p = present[rel]
        data = os.readlink(p).encode("utf-8", errors="surrogateescape") if mode == "120000" else (
            b"" if p.is_symlink() else p.read_bytes())
        algo = hashlib.sha1 if len(oid) == 40 else hashlib.sha256
        if (mode == "120000") != p.is_symlink() or algo(b"blob %d\0" % len(data) + data).hexdigest() != oid:
            return f"{escape_name(rel)} differs from the commit"
    return None


def _hash_tree(root: Path, commit: str | None, dirty: bool, paths: list[str]) -> Snapshot:
    files = {}
    for rel in sorted(paths):
        p = root / rel
        if p.is_symlink() and not p.resolve().is_relative_to(root.resolve()):
            # Its bytes would be a file of this machine's disk, not of the repository.
            raise SourceError(f"{root}: {escape_name(rel)} is a symlink to {p.resolve()}, outside the "
                              "repository; refusing to snapshot it")
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
    """Download and unpack a bundle; verify it is exactly its manifest; return its files' folder.

    Unpacked beside its final place and renamed into it only once verified, so two tasks on one
    worker fetching the same digest never see each other's half-written files. The work folder is
    private, and an unpacked bundle found there is verified again on every use: one that no longer
    matches its manifest (a file edited, added or removed) is thrown away and fetched again.
    """
    if not _DIGEST.fullmatch(digest):
        raise SourceError(f"bundle digest {digest!r}: expected 64 hex digits")
    dest = private_dir(dest)
    final = dest / digest
    if final.exists() or final.is_symlink():
        problem = _unpacked_problem(final, digest)
        if problem is None:
            return final / TREE
        log.warning("bundle %s: the unpacked copy in %s cannot be trusted (%s); fetching it again",
                    digest[:12], dest, problem)
        _remove(final)
    body = ctx.client("s3").get_object(Bucket=bucket, Key=bundle_key(digest))["Body"].read()
    staging = Path(tempfile.mkdtemp(prefix=f".{digest[:12]}-", dir=dest))
    try:
        try:
            with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
                tar.extractall(staging, filter="data")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise SourceError(f"bundle {digest}: cannot be unpacked safely ({escape_name(str(exc))})") from None
        problem = _unpacked_problem(staging, digest, marker=False)
        if problem is not None:
            raise SourceError(f"bundle {digest}: {problem}")
        (staging / ".verified").write_text(digest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a refused or broken bundle leaves nothing behind
        raise
    try:
        staging.rename(final)
    except OSError:  # another task got there first with the same verified content
        shutil.rmtree(staging, ignore_errors=True)
        if _unpacked_problem(final, digest) is not None:
            raise SourceError(f"bundle {digest}: the copy another task unpacked in {dest} does not verify")
    return final / TREE


def _unpacked_problem(folder: Path, digest: str, marker: bool = True) -> str | None:
    """Why ``folder`` is not exactly the bundle ``digest`` (manifest, every file, nothing else), or None."""
    if folder.is_symlink() or not folder.is_dir():
        return "not a folder"
    expected_top = {MANIFEST, TREE} | ({".verified"} if marker else set())
    top = {p.name for p in folder.iterdir()}
    if top != expected_top:
        return f"top-level entries {sorted(top)}, expected {sorted(expected_top)}"
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
        if not isinstance(files, dict):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        return "no readable manifest"
    if content_digest(files) != digest:
        return "the manifest's files do not hash to the bundle's digest"
    tree = folder / TREE
    present, odd = set(), []
    for p in tree.rglob("*"):
        rel = p.relative_to(tree).as_posix()
        if p.is_symlink() or not (p.is_file() or p.is_dir()):
            odd.append(rel)
        elif p.is_file():
            present.add(rel)
    extra = sorted((present - set(files)) | set(odd))
    missing = sorted(set(files) - present)
    if extra:
        return f"files not in its manifest: {', '.join(escape_name(x) for x in extra)}"
    if missing:
        return f"manifest files missing: {', '.join(escape_name(x) for x in missing)}"
    for rel, sha in sorted(files.items()):
        if hashlib.sha256((tree / rel).read_bytes()).hexdigest() != sha:
            return f"{escape_name(rel)} does not match its manifest"
    return None


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)
