"""Repo cleansing: rewrite a remote's history so no secret the purge plan names is left in it.

Steps: mirror-clone the source remote; find the literal secrets again in that clone (the plan
holds only their hashes); rewrite every ref with `git filter-repo --replace-text`; force-push
all refs back (`git push --mirror`); then clone the remote afresh and scan it to prove no finding
remains.

Why --replace-text and not --invert-paths: the secret usually sits in a file the fleet still
needs (a template, a config). Dropping the whole path from history would also drop every good
version of that file and change the tree of every later commit; replacing the literal keeps the
history intact except for the secret bytes (they become ***REMOVED***).

The literal values live only in this process's memory and a 0600 temp file deleted right after
filter-repo reads it: never in a log, a finding, the plan or an exception message.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import gitdata


class CleanseError(RuntimeError):
    pass


@dataclass
class CleanseResult:
    remote: str
    rewritten_refs: int = 0
    replaced_hashes: list[str] = field(default_factory=list)
    remaining_findings: int = 0  # from the rescan of a fresh clone; 0 proves the purge
    pushed: bool = False
    already_gone: list[str] = field(default_factory=list)  # plan hashes the fresh rescan no longer finds

    @property
    def ok(self) -> bool:
        return self.remaining_findings == 0


def _run(args: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        # git/filter-repo stderr names refs and paths, not blob contents
        raise CleanseError(f"{' '.join(args[:3])} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _filter_repo() -> list[str]:
    beside = Path(sys.executable).parent / "git-filter-repo"
    if beside.is_file():
        return [sys.executable, str(beside)]
    found = shutil.which("git-filter-repo")
    if not found:
        raise CleanseError("git-filter-repo not found: pip install git-filter-repo")
    return [found]


def _literals(git_dir: Path, hashes: set[str]) -> dict[str, str]:
    """hashed_secret -> literal value, by rescanning the clone's blobs (in memory only)."""
    from detect_secrets.core.scan import _process_line_based_plugins

    from . import secret_scan

    secret_scan.configure(None)
    found: dict[str, str] = {}
    blobs = gitdata.history_blobs(git_dir)
    paths = {b.oid: b.path for b in blobs}
    for oid, data in gitdata.read_blobs(git_dir, [b.oid for b in blobs]):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        lines = list(enumerate(text.splitlines(keepends=True), start=1))
        for secret in _process_line_based_plugins(lines, filename=paths[oid]):
            if secret.secret_hash in hashes and secret.secret_value:
                found[secret.secret_hash] = secret.secret_value
        if len(found) == len(hashes):
            break
    return found


def cleanse(remote: str, plan: dict | None, *, work_dir: Path | None = None,
            prune_local_remote: bool = True, push: bool = True) -> CleanseResult:
    """Purge the plan's secrets from every ref of `remote` (a URL or path), then prove it.

    A fresh rescan of the remote comes first: a secret it finds that the plan does not name means
    the plan is stale or incomplete, and nothing is rewritten or pushed. With ``plan`` None the
    fresh rescan is the plan. The rewrite happens in a mirror clone and is scanned again there;
    only with ``push`` (and that scan clean) is it force-pushed, then proven by scanning a fresh
    clone of the remote."""
    result = CleanseResult(remote)
    with tempfile.TemporaryDirectory(prefix="fleet-cleanse-", dir=work_dir) as tmp:
        mirror = Path(tmp) / "mirror.git"
        _run(["git", "clone", "--quiet", "--mirror", remote, str(mirror)])
        found = scan_hashes(str(mirror), Path(tmp) / "before")
        hashes = {s["hashed_secret"] for s in plan.get("secrets", [])} if plan is not None else found
        unplanned = found - hashes
        if unplanned:
            raise CleanseError(f"the fresh rescan of {remote} found {len(unplanned)} secret(s) the purge plan does "
                               "not name; nothing was rewritten or pushed: review them and make a new purge plan "
                               "(`fleet check` on a clone)")
        result.already_gone = sorted(hashes - found)
        hashes &= found
        if not hashes:
            return result
        literals = _literals(mirror, hashes)
        missing = hashes - set(literals)
        if missing:
            raise CleanseError(f"{len(missing)} secret(s) of the plan not found in {remote} "
                               "(already purged, or the plan is for another repo)")
        fd, replacements = tempfile.mkstemp(prefix="replace-", dir=tmp)
        try:
            with os.fdopen(fd, "w") as handle:
                for value in literals.values():
                    handle.write(f"literal:{value}==>***REMOVED***\n")
            _run([*_filter_repo(), "--force", "--quiet", "--replace-text", replacements],
                 cwd=mirror)
        finally:
            os.unlink(replacements)
        result.replaced_hashes = sorted(literals)
        result.rewritten_refs = len(_run(["git", "for-each-ref", "--format=%(refname)"],
                                         cwd=mirror).split())
        left = scan_hashes(str(mirror), Path(tmp) / "after")
        if left:
            raise CleanseError(f"after the rewrite {len(left)} secret(s) are still in the history; nothing pushed")
        if not push:
            return result  # the rewrite is proven clean in the mirror; pushing is the caller's word
        # filter-repo drops the origin remote on purpose; push to the URL explicitly
        _run(["git", "push", "--quiet", "--force", "--mirror", remote], cwd=mirror)
        local = Path(remote)
        if prune_local_remote and local.is_dir():
            # a local bare remote keeps the old objects until gc; prune them so they are gone
            _run(["git", "--git-dir", str(local), "reflog", "expire", "--expire=now", "--all"])
            _run(["git", "--git-dir", str(local), "gc", "--quiet", "--prune=now"])
        result.pushed = True
        result.remaining_findings = rescan(remote, hashes, Path(tmp))
    return result


def scan_hashes(remote: str, tmp: Path) -> set[str]:
    """The hashes of every secret in a fresh clone of ``remote``: its tree and every ref's history."""
    from . import secrets_gate
    from .workspace import Workspace

    tmp.mkdir(parents=True, exist_ok=True)
    clone = tmp / "scan"
    _run(["git", "clone", "--quiet", "--no-local", remote, str(clone)])
    result = secrets_gate.run(Workspace(clone), history=True, cache_dir=tmp / "scan-cache")
    return set(result.tree_hashes) | {o.hashed_secret for o in result.history}


def rescan(remote: str, hashes: set[str], tmp: Path) -> int:
    """Scan a fresh clone of the remote (tree and every ref's history): how many of the plan's
    secrets are still there."""
    # rev-list --all includes refs/remotes/origin/*: every branch of the remote is scanned
    return len(scan_hashes(remote, tmp / "verify") & hashes)


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fleet.gates.cleanse",
                                     description="purge a purge plan's secrets from a remote")
    parser.add_argument("--plan", required=True, type=Path)
    parser.add_argument("--remote", required=True)
    args = parser.parse_args(argv)
    plan = json.loads(args.plan.read_text())
    try:
        result = cleanse(args.remote, plan)
    except CleanseError as exc:
        print(f"cleanse: {exc}", file=sys.stderr)
        return 2
    print(json.dumps({"remote": result.remote, "rewritten_refs": result.rewritten_refs,
                      "replaced_hashes": result.replaced_hashes,
                      "remaining_findings": result.remaining_findings}, indent=2))
    return 0 if result.ok else 1


if __name__ == "__main__":
    sys.exit(main())
