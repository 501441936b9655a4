"""Gate `secrets`: detect-secrets over the working tree and every blob in git history.

- Working-tree files are scanned the way `detect-secrets scan` scans a file (with its
  transformers); history blobs the way it scans a diff (raw lines). Each unique blob is scanned
  once: cache entries are keyed by git blob id (+ file type, which decides some plugins) and by
  the effective detect-secrets settings, and kept in cache_dir between runs.
- `.secrets.baseline` (detect-secrets' own format) supplies the plugin/filter settings and the
  allow-list: a result listed there for the same file and hashed_secret is accepted, unless an
  audit marked it `is_secret: true`.
- A history-only finding names the earliest commit that introduced the secret, its path and line.
- Findings and the purge plan carry the secret's type and SHA-1 hash only: never the value.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import gitdata, locate, secret_scan
from .findings import Finding
from .workspace import Workspace

BASELINE_NAME = ".secrets.baseline"
MAX_SCAN_BYTES = 16 * 1024 * 1024
CACHE_VERSION = "1"


class SecretsConfigError(ValueError):
    """A baseline that cannot be used (usage error, exit 2)."""


@dataclass
class Occurrence:
    commit: str | None
    path: str  # relative to the scanned root
    line: int
    type: str
    hashed_secret: str


@dataclass
class SecretsResult:
    findings: list[Finding] = field(default_factory=list)
    history: list[Occurrence] = field(default_factory=list)  # every history occurrence (purge)
    tree_hashes: set[str] = field(default_factory=set)  # hashed secrets in the working tree
    repo: Path | None = None
    scanned_blobs: int = 0
    cache_hits: int = 0


@dataclass
class Baseline:
    path: Path | None
    settings: dict | None
    allowed: set[tuple[str, str]]  # (abs path, hashed_secret)

    def allows(self, abs_path: Path, hashed: str) -> bool:
        return (str(abs_path), hashed) in self.allowed


def load_baseline(root: Path) -> Baseline:
    # the scanned repo's own baseline only: an allow-list is about one repo's files, so this
    # package's baseline must not silence findings in another repo
    top = locate.git_toplevel(root)
    path = next((p / BASELINE_NAME for p in (root, top) if p and (p / BASELINE_NAME).is_file()),
                None)
    if path is None:
        return Baseline(None, None, set())
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SecretsConfigError(f"{path}: not a readable detect-secrets baseline: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("results", {}), dict):
        raise SecretsConfigError(f"{path}: expected a JSON object with a `results` map "
                                 "(detect-secrets baseline format)")
    settings = {k: data[k] for k in ("plugins_used", "filters_used") if k in data}
    for item in settings.get("filters_used", []):
        # detect-secrets stores the baseline filter with a path relative to where it ran
        if item.get("path") == "detect_secrets.filters.common.is_baseline_file":
            item["filename"] = str(path)
    allowed = set()
    for filename, entries in data.get("results", {}).items():
        for entry in entries or []:
            if not isinstance(entry, dict) or "hashed_secret" not in entry:
                raise SecretsConfigError(f"{path}: results[{filename!r}]: each entry needs a "
                                         "hashed_secret")
            if entry.get("is_secret") is True:
                continue  # audited as a real secret: still reported
            allowed.add((str((path.parent / filename).resolve()), entry["hashed_secret"]))
    return Baseline(path, settings or None, allowed)


def default_cache_dir(root: Path) -> Path:
    gdir = locate.git_dir(root)
    if gdir is not None and os.access(gdir, os.W_OK):
        return gdir / "fleet-secrets-cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fleet"


class _Cache:
    def __init__(self, directory: Path, digest: str):
        self.path = directory / f"secrets-v{CACHE_VERSION}-{digest}.json"
        try:
            self.data: dict = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.data = {}
        self.dirty = False

    def get(self, key):
        return self.data.get(key)

    def put(self, key, hits) -> None:
        if isinstance(hits, list):  # failures are retried next run, not cached
            self.data[key] = hits
            self.dirty = True

    def save(self) -> None:
        if not self.dirty:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".secrets-cache-")
            with os.fdopen(fd, "w") as handle:
                json.dump(self.data, handle, separators=(",", ":"))
            os.replace(tmp, self.path)
        except OSError:
            pass  # a read-only cache only costs speed


def _kind(name: str) -> str:
    return os.path.splitext(name)[1].lower() or os.path.basename(name)


def run(ws: Workspace, *, history: bool = True, cache_dir: Path | None = None,
        workers: int | None = None) -> SecretsResult:
    result = SecretsResult()
    baseline = load_baseline(ws.root)
    digest = secret_scan.configure(baseline.settings)
    cache = _Cache(cache_dir or default_cache_dir(ws.root), digest)

    # --- working tree ---
    tree_items: list[tuple[str, str, bytes, bool]] = []
    tree_keys: dict[str, list] = {}  # key -> [SourceFile, ...]
    tree_oids: set[str] = set()
    for f in ws.files:
        if baseline.path is not None and f.path.resolve() == baseline.path.resolve():
            continue  # the baseline holds hashes, which look like secrets
        if f.error:
            result.findings.append(Finding("secrets", "secrets:unreadable", "error", f.rel, None,
                                           None, f"{f.error}: not scanned for secrets"))
            continue
        if f.size > MAX_SCAN_BYTES:
            result.findings.append(Finding(
                "secrets", "secrets:too-large", "warning", f.rel, None, None,
                f"{f.size:,} bytes, above the {MAX_SCAN_BYTES:,}-byte scan limit: not scanned"))
            continue
        try:
            data = f.read_bytes()
        except OSError as exc:
            result.findings.append(Finding("secrets", "secrets:unreadable", "error", f.rel, None,
                                           None, f"cannot be read ({exc.strerror}): not scanned"))
            continue
        oid = gitdata.blob_id(data)
        tree_oids.add(oid)
        key = f"tree:{oid}:{_kind(f.rel)}:{os.path.basename(f.rel)}"
        if key not in tree_keys:
            tree_items.append((key, f.rel, data, False))
        tree_keys.setdefault(key, []).append(f)

    # --- history ---
    hist_items: list[tuple[str, str, bytes, bool]] = []
    gdir = locate.git_dir(ws.root) if history else None
    top = locate.git_toplevel(ws.root) if gdir else None
    blobs: list[gitdata.HistoryBlob] = []
    if gdir is not None:
        result.repo = top or gdir
        # Every version of a baseline holds hashes that look like secrets, as the tree's does.
        blobs = [b for b in gitdata.history_blobs(gdir)
                 if b.oid not in tree_oids and b.size <= MAX_SCAN_BYTES
                 and os.path.basename(b.path) != BASELINE_NAME]

    todo = [item for item in tree_items if cache.get(item[0]) is None]
    hist_keys = {b.oid: f"hist:{b.oid}:{_kind(b.path)}" for b in blobs}
    missing = [b for b in blobs if cache.get(hist_keys[b.oid]) is None]
    if missing and gdir is not None:
        missing.sort(key=lambda b: b.path)  # versions of a file together: see scan_many
        wanted = {b.oid: b for b in missing}
        for oid, data in gitdata.read_blobs(gdir, [b.oid for b in missing]):
            hist_items.append((hist_keys[oid], wanted[oid].path, data, True))
    result.scanned_blobs = len(todo) + len(hist_items)
    result.cache_hits = len(tree_items) + len(blobs) - result.scanned_blobs
    fresh = secret_scan.scan_many(todo + hist_items, baseline.settings, workers) if (
        todo or hist_items) else {}
    for key, hits in fresh.items():
        cache.put(key, hits)
    cache.save()

    def hits_for(key):
        got = fresh.get(key)
        return got if got is not None else cache.get(key)

    # --- findings: tree ---
    tree_hashes = set()
    for key, files in tree_keys.items():
        hits = hits_for(key)
        for f in files:
            if isinstance(hits, str):
                result.findings.append(Finding("secrets", "secrets:scan-failed", "error", f.rel,
                                               None, None, f"{hits}: not scanned for secrets"))
                continue
            for kind, hashed, line in hits or []:
                tree_hashes.add(hashed)
                if baseline.allows(f.path.resolve(), hashed):
                    continue
                result.findings.append(Finding(
                    "secrets", rule_of(kind), "error", f.rel, line, None, _message(kind, hashed)))

    result.tree_hashes = tree_hashes

    # --- findings: history ---
    if blobs and gdir is not None:
        repo_root = top or gdir
        secret_blobs = {b.oid: b for b in blobs if hits_for(hist_keys[b.oid])}
        intro = gitdata.introductions(gdir, set(secret_blobs))
        order = {}
        for oid, pairs in intro.items():
            for commit, _ in pairs:
                order.setdefault(commit, len(order))
        reported: dict[tuple[str, str], Occurrence] = {}
        for oid, blob in secret_blobs.items():
            hits = hits_for(hist_keys[oid])
            if isinstance(hits, str):
                result.findings.append(Finding("secrets", "secrets:scan-failed", "error",
                                               _rel(ws, repo_root, blob.path), None, None,
                                               f"history blob {oid[:12]}: {hits}"))
                continue
            places = intro.get(oid) or [(None, blob.path)]
            for commit, path in places:
                for kind, hashed, line in hits:
                    abs_path = (repo_root / path).resolve()
                    if baseline.allows(abs_path, hashed):
                        continue
                    occ = Occurrence(commit, _rel(ws, repo_root, path), line, kind, hashed)
                    result.history.append(occ)
                    if hashed in tree_hashes:
                        continue  # the tree finding already names it; purge plan keeps it
                    k = (hashed, occ.path)
                    prev = reported.get(k)
                    if prev is None or order.get(commit, 1 << 30) < order.get(prev.commit, 1 << 30):
                        reported[k] = occ
        for occ in sorted(reported.values(), key=lambda o: (o.path, o.line)):
            result.findings.append(Finding(
                "secrets", rule_of(occ.type), "error", occ.path, occ.line, occ.commit,
                f"{occ.type} (hashed_secret {occ.hashed_secret[:12]}) is in git history only, "
                f"added by commit {(occ.commit or '?')[:12]}: rotate it, then purge history "
                "with the purge plan (fleet.gates.cleanse)"))
    return result


def _rel(ws: Workspace, repo_root: Path, path: str) -> str:
    return os.path.relpath(repo_root / path, ws.root)


def rule_of(secret_type: str) -> str:
    """`secrets:<detect-secrets plugin>` for a secret type ("AWS Access Key" -> AWSKeyDetector).

    The plugin's class name is the id detect-secrets' own baseline and docs use; the type stays
    in the message, which reads better.
    """
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class

    plugin = get_mapping_from_secret_type_to_class().get(secret_type)
    return f"secrets:{plugin.__name__ if plugin else secret_type.replace(' ', '') or 'unknown'}"


def _message(kind: str, hashed: str) -> str:
    return (f"{kind} detected (hashed_secret {hashed[:12]}); remove and rotate it, or allow-list "
            f"it in {BASELINE_NAME}")


def purge_plan(result: SecretsResult) -> dict | None:
    """What a history rewrite must remove: commits, paths and secret hashes (never values)."""
    if not result.history:
        return None
    secrets: dict[str, dict] = {}
    for occ in result.history:
        entry = secrets.setdefault(occ.hashed_secret, {"hashed_secret": occ.hashed_secret,
                                                       "types": set(), "occurrences": []})
        entry["types"].add(occ.type)
        entry["occurrences"].append({"commit": occ.commit, "path": occ.path, "line": occ.line})
    for entry in secrets.values():
        entry["types"] = sorted(entry["types"])
    return {
        "repository": str(result.repo) if result.repo else None,
        "commits": sorted({o.commit for o in result.history if o.commit}),
        "paths": sorted({o.path for o in result.history}),
        "secrets": sorted(secrets.values(), key=lambda e: e["hashed_secret"]),
        "method": "git filter-repo --replace-text (see fleet.gates.cleanse)",
    }
