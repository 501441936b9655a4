"""Gate `secrets`: detect-secrets over the working tree and every blob in git history.

- Working-tree files and history blobs are scanned the way `detect-secrets scan` scans a file
  (with its transformers for YAML, INI and .env values), so a secret is found the same once it
  lives only in history. Each unique blob is scanned once: cache entries are keyed by git blob id
  (+ file name, which picks transformers and some filters) and by the effective detect-secrets
  settings, and kept in cache_dir between runs.
- A history finding is reported for every path a secret blob ever had (deleted paths and old
  copies of files still in the tree included), each with the commit that put it there.
- Blobs above the size limit and files named .secrets.baseline outside the repo root are not
  skipped silently: the first are warnings, the second are scanned like any file.
- `.secrets.baseline` (detect-secrets' own format) supplies the plugin/filter settings and the
  allow-list: a result listed there for the same file and hashed_secret is accepted, unless an
  audit marked it `is_secret: true`.
- Findings and the purge plan carry the secret's type and SHA-1 hash only: never the value.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from . import gitdata, locate, secret_scan
from .findings import Finding
from .workspace import Workspace

BASELINE_NAME = ".secrets.baseline"
MAX_SCAN_BYTES = 16 * 1024 * 1024
CACHE_VERSION = "2"


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
    checked_blobs: int = 0  # history blobs looked at (from the cache or scanned)


@dataclass
class Baseline:
    path: Path | None
    settings: dict | None
    allowed: set[tuple[str, str]]  # (abs path, hashed_secret)
    # (key, why) for settings refused because they would load code from the repo
    refused: list[tuple[str, str]] = field(default_factory=list)

    @property
    def allowed_hashes(self) -> set[str]:
        return {hashed for _, hashed in self.allowed}

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
    refused = _refuse_code(settings)
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
    return Baseline(path, settings or None, allowed, refused)


def _refuse_code(settings: dict) -> list[tuple[str, str]]:
    """Drop baseline entries that make detect-secrets import Python, and say which.

    A custom plugin (`plugins_used[i].path`) or a filter that is not one of detect-secrets' own
    (`filters_used[i].path`: `file://...` or any other module) would run code from the repo under
    review inside the gate.
    """
    refused = []
    for section in ("plugins_used", "filters_used"):
        items = settings.get(section)
        if not isinstance(items, list):
            continue
        kept = []
        for i, item in enumerate(items):
            target = item.get("path") if isinstance(item, dict) else None
            code = isinstance(target, str) and (
                section == "plugins_used" or not target.startswith("detect_secrets."))
            if code:
                refused.append((f"{section}[{i}].path", "loads Python from outside detect-secrets"))
            else:
                kept.append(item)
        settings[section] = kept
    return refused


def default_cache_dir(root: Path) -> Path:
    gdir = locate.git_dir(root)
    if gdir is not None and os.access(gdir, os.W_OK):
        return gdir / "fleet-secrets-cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fleet"


class _Cache:
    def __init__(self, directory: Path, digest: str):
        from fleet.cachedir import load_sealed

        self.path = directory / f"secrets-v{CACHE_VERSION}-{digest}.json"
        # Private and sealed: an entry planted to clear a finding is a miss, scanned again.
        data = load_sealed(directory, self.path.name, self.path.stem)
        self.data: dict = data if isinstance(data, dict) else {}
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
        from fleet.cachedir import CacheError, store_sealed

        try:
            store_sealed(self.path.parent, self.path.name, self.path.stem, self.data)
        except (OSError, CacheError):
            pass  # a read-only (or untrusted) cache only costs speed


def _kind(name: str) -> str:
    return os.path.splitext(name)[1].lower() or os.path.basename(name)


def run(ws: Workspace, *, history: bool = True, cache_dir: Path | None = None,
        workers: int | None = None) -> SecretsResult:
    result = SecretsResult()
    baseline = load_baseline(ws.root)
    digest = secret_scan.configure(baseline.settings)
    cache = _Cache(cache_dir or default_cache_dir(ws.root), digest)
    for key, why in baseline.refused:
        result.findings.append(Finding(
            "secrets", "secrets:settings-refused", "error", os.path.relpath(baseline.path, ws.root),
            None, None, f"{key}: refused: it {why}; custom plugins and filters cannot run in the "
                        "gates (the entry was ignored)"))

    # --- working tree ---
    items: dict[str, tuple[str, str, bytes]] = {}  # key -> (key, name, content) to scan
    tree_keys: dict[str, list] = {}  # key -> [SourceFile, ...]
    tree_oids: dict[str, str] = {}  # blob id -> its key
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
        key = _key(oid, f.rel)
        tree_oids.setdefault(oid, key)
        if key not in items and cache.get(key) is None:
            items[key] = (key, f.rel, data)
        tree_keys.setdefault(key, []).append(f)

    # --- history ---
    gdir = locate.git_dir(ws.root) if history else None
    top = locate.git_toplevel(ws.root) if gdir else None
    repo_root = top or gdir
    blobs: list[gitdata.HistoryBlob] = []
    if gdir is not None:
        result.repo = repo_root
        root_baseline = (os.path.relpath(baseline.path, repo_root) if baseline.path
                         else BASELINE_NAME)
        for b in gitdata.history_blobs(gdir):
            if b.oid in tree_oids:
                continue  # scanned as a tree file; its history paths are named below
            if b.path == root_baseline:
                continue  # every version of the baseline holds hashes that look like secrets
            if b.size > MAX_SCAN_BYTES:
                result.findings.append(Finding(
                    "secrets", "secrets:too-large", "warning", _rel(ws, repo_root, b.path), None,
                    None, f"history blob {b.oid[:12]} is {b.size:,} bytes, above the "
                          f"{MAX_SCAN_BYTES:,}-byte scan limit: not scanned"))
                continue
            blobs.append(b)
    result.checked_blobs = len(blobs)
    blob_keys = {b.oid: _key(b.oid, b.path) for b in blobs}
    missing = [b for b in blobs if cache.get(blob_keys[b.oid]) is None
               and blob_keys[b.oid] not in items]
    if missing and gdir is not None:
        missing.sort(key=lambda b: b.path)  # versions of a file together: see scan_many
        wanted = {b.oid: b for b in missing}
        for oid, data in gitdata.read_blobs(gdir, [b.oid for b in missing]):
            items[blob_keys[oid]] = (blob_keys[oid], wanted[oid].path, data)
    result.scanned_blobs = len(items)
    result.cache_hits = len(set(tree_keys) | set(blob_keys.values())) - result.scanned_blobs
    fresh = secret_scan.scan_many(list(items.values()), baseline.settings, workers) if (
        items) else {}
    for key, hits in fresh.items():
        cache.put(key, hits)
    cache.save()

    def hits_for(key):
        got = fresh.get(key)
        return got if got is not None else cache.get(key)

    # --- findings: tree ---
    tree_hashes = set()
    tree_places = set()  # (hashed, rel path) the tree findings already name
    for key, files in tree_keys.items():
        hits = hits_for(key)
        for f in files:
            if isinstance(hits, str):
                result.findings.append(Finding("secrets", "secrets:scan-failed", "error", f.rel,
                                               None, None, f"{hits}: not scanned for secrets"))
                continue
            for kind, hashed, line in hits or []:
                tree_hashes.add(hashed)
                tree_places.add((hashed, f.rel))
                if baseline.allows(f.path.resolve(), hashed):
                    continue
                result.findings.append(Finding(
                    "secrets", rule_of(kind), "error", f.rel, line, None, _message(kind, hashed)))

    result.tree_hashes = tree_hashes

    # --- findings: history, one per place a secret ever was (tree blobs' old paths included) ---
    if gdir is not None:
        secret_keys = {oid: key for oid, key in tree_oids.items()
                       if isinstance(hits_for(key), list) and hits_for(key)}
        secret_keys.update({b.oid: blob_keys[b.oid] for b in blobs if hits_for(blob_keys[b.oid])})
        first_path = {b.oid: b.path for b in blobs}
        intro = gitdata.introductions(gdir, set(secret_keys)) if secret_keys else {}
        order = {}
        for oid, pairs in intro.items():
            for commit, _ in pairs:
                order.setdefault(commit, len(order))
        reported: dict[tuple[str, str], Occurrence] = {}
        for oid, key in secret_keys.items():
            hits = hits_for(key)
            if isinstance(hits, str):
                result.findings.append(Finding("secrets", "secrets:scan-failed", "error",
                                               _rel(ws, repo_root, first_path.get(oid, "?")),
                                               None, None, f"history blob {oid[:12]}: {hits}"))
                continue
            places = intro.get(oid) or ([(None, first_path[oid])] if oid in first_path else [])
            for commit, path in places:
                for kind, hashed, line in hits:
                    abs_path = (repo_root / path).resolve()
                    if baseline.allows(abs_path, hashed) or hashed in baseline.allowed_hashes:
                        continue  # an accepted value (a test dummy) is accepted where it was
                    occ = Occurrence(commit, _rel(ws, repo_root, path), line, kind, hashed)
                    result.history.append(occ)
                    if (hashed, occ.path) in tree_places:
                        continue  # the tree finding already names this place; purge plan keeps it
                    k = (hashed, occ.path)
                    prev = reported.get(k)
                    if prev is None or order.get(commit, 1 << 30) < order.get(prev.commit, 1 << 30):
                        reported[k] = occ
        for occ in sorted(reported.values(), key=lambda o: (o.path, o.line)):
            where = "still in the tree elsewhere" if occ.hashed_secret in tree_hashes \
                else "in git history only"
            result.findings.append(Finding(
                "secrets", rule_of(occ.type), "error", occ.path, occ.line, occ.commit,
                f"{occ.type} (hashed_secret {occ.hashed_secret[:12]}) at this path is {where}, "
                f"added by commit {(occ.commit or '?')[:12]}: rotate it, then purge history "
                "with the purge plan (fleet.gates.cleanse)"))
    return result


def _key(oid: str, name: str) -> str:
    # the file name picks detect-secrets' transformers and some filters: part of the result
    return f"blob:{oid}:{_kind(name)}:{os.path.basename(name)}"


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
