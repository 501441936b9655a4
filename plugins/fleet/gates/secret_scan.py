"""Scan file contents (bytes, from disk or from a git blob) with detect-secrets' plugins and filters.

detect-secrets only scans files on disk; history blobs are not on disk, so this module feeds
content to the same per-line machinery its `scan_file` uses (transformers, line plugins, filters).
Results carry the secret's type, its SHA-1 hash (detect-secrets' `hashed_secret`) and the line:
never the value, so nothing downstream can leak it.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import re
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable

IGNORED_FILTERS = (
    # we scan content from memory under its repo path: "is it a file on disk" would drop it all
    "detect_secrets.filters.common.is_invalid_file",
    # verification sends candidate secrets to third-party APIs (AWS, Slack, ...): a gate must
    # never do that, and the Build stage has no business on the internet (= --no-verify)
    "detect_secrets.filters.common.is_ignored_due_to_verification_policies",
)

# this package's filters (CloudFormation idioms that are not secrets)
OUR_FILTERS = ("fleet.gates.secret_filters.is_cloudformation_idiom",)

Hit = tuple[str, str, int]  # (secret type, hashed_secret, line)


def configure(settings: dict | None) -> str:
    """Configure detect-secrets (baseline settings, or all plugins + default filters).

    Returns a digest of the effective settings: cache entries made under other settings are
    not reused.
    """
    from detect_secrets.__version__ import VERSION
    from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
    from detect_secrets.settings import (
        cache_bust, configure_settings_from_baseline, get_plugins, get_settings,
    )

    logging.getLogger("detect-secrets").setLevel(logging.WARNING)
    cache_bust()
    if settings and settings.get("plugins_used"):
        configure_settings_from_baseline(settings)
    else:
        configure_settings_from_baseline({
            "plugins_used": [{"name": cls.__name__}
                             for cls in get_mapping_from_secret_type_to_class().values()],
            **({"filters_used": settings["filters_used"]} if settings and
               settings.get("filters_used") else {}),
        })
    # not cache_bust() again: it would also drop the Settings singleton we just configured
    get_settings().disable_filters(*IGNORED_FILTERS)
    for path in OUR_FILTERS:
        get_settings().filters[path] = {}
    get_plugins.cache_clear()
    from detect_secrets.core.scan import get_filters

    get_filters.cache_clear()
    # our filters' code decides results too: a change to it must not reuse old cache entries
    ours = hashlib.sha256(Path(__file__).with_name("secret_filters.py").read_bytes()).hexdigest()
    effective = json.dumps([VERSION, get_settings().json(), ours], sort_keys=True)
    digest = hashlib.sha256(effective.encode()).hexdigest()[:16]
    global _CONFIGURED
    if digest != _CONFIGURED:  # other plugins or filters: what was learnt no longer holds
        _QUIET.clear()
        _NOISY.clear()
        _CONFIGURED = digest
    return digest


_CONFIGURED = ""


_CFN_TAG = re.compile(
    r"(?m)^[^#\n]*(?:^|[\s\[{,:-])!(?:Ref|Sub|GetAtt|Join|Select|Split|If|Equals|Not|And|Or|"
    r"FindInMap|ImportValue|GetAZs|Base64|Cidr|Condition|Transform|ToJsonString|Length)\b")

# Lines on which no plugin matched, per file type, in this process. A file made only of such
# lines holds no secret (filters can only remove plugin matches), so it needs no full scan: most
# of a file's next version in history is lines already seen, which is what makes history cheap.
_QUIET: set[tuple[str, str]] = set()


def scan_content(name: str, data: bytes) -> list[Hit]:
    """Scan content the way `detect-secrets scan` scans a file named `name` (transformers included).

    Working-tree files and history blobs both come here, so an unquoted YAML, INI or .env value
    is found the same whether it is still in the tree or lives only in history.
    """
    from detect_secrets.core.scan import _is_filtered_out
    from detect_secrets.transformers import get_transformed_file

    if b"\0" in data[:8192]:
        return []  # binary: detect-secrets ignores files that are not text
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if _is_filtered_out(required_filter_parameters=["filename"], filename=name):
        return []
    if _CFN_TAG.search(text) and os.path.splitext(name)[1].lower() in (".yaml", ".yml"):
        # detect-secrets' YAML transformer composes the whole document, then fails on the
        # first CloudFormation short-form tag (!Ref, !Sub, ...) and falls back to raw lines:
        # go there directly (same result, a fraction of the time on templates)
        return _scan_lines(name, text.splitlines(keepends=True), "plain")
    handle = io.StringIO(text)
    handle.name = name  # transformers pick themselves by file name (YAML, INI, ...)
    hits: list[Hit] = []
    for eager in (False, True):
        if not eager and _yaml_quiet(name, text):
            continue  # the YAML transformer's lines (or the raw ones) can hold no secret
        lines = get_transformed_file(handle, use_eager_transformers=eager)
        if lines is None:
            if eager:
                break
            lines = text.splitlines(keepends=True)
        hits = _scan_lines(name, lines, "eager" if eager else "plain")
        if hits:
            break
        handle.seek(0)
    return hits


def _yaml_quiet(name: str, text: str) -> bool:
    """True when no line detect-secrets' YAML transformer could make of `text` (nor any raw
    line, its fallback when the pure-Python parse fails) is matched by a plugin.

    The transformer composes the document with pyyaml's pure-Python loader (most of the secrets
    gate's time on YAML templates) and turns each string value of a mapping into the line
    `key: "value"<a comment of the file>`. libyaml composes the same document many times faster;
    the lines built from it are a superset (every key/string-value pair, with every comment the
    file has), so when they are all quiet the transformer's are too and it need not run. Anything
    unusual (a parse error, a complex key, binary data, many comments) returns False and the
    transformer runs as before.
    """
    from detect_secrets.util.filetype import FileType, determine_file_type

    if determine_file_type(name) != FileType.YAML:
        return False
    candidates = _yaml_value_lines(text)
    if candidates is None:
        return False
    candidates += text.splitlines(keepends=True)
    return not _noisy_lines(name, candidates, "plain")


_MAX_COMMENTS = 16


def _yaml_value_lines(text: str) -> list[str] | None:
    import yaml
    from detect_secrets.transformers.yaml import _yaml_comment_regex

    loader = getattr(yaml, "CSafeLoader", None)
    if loader is None:
        return None
    try:
        root = yaml.compose(text, Loader=loader)
    except Exception:  # noqa: BLE001 - the transformer decides; its fallback is covered anyway
        return None
    comments = {""}
    for raw in text.splitlines():
        found = _yaml_comment_regex().search(raw.strip())
        if found:
            comments.add(found.group(0))
    if len(comments) > _MAX_COMMENTS:
        return None
    pairs: set[tuple[str, str]] = set()
    stack, seen = [root] if root is not None else [], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue  # an alias: the same node again
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                stack += (key, value)
                if not isinstance(value, yaml.ScalarNode):
                    continue
                if value.tag.endswith(":binary") or not isinstance(key, yaml.ScalarNode):
                    return None  # base64 re-encoding, complex keys: leave them to the transformer
                if value.tag.endswith(":str"):
                    pairs.add((key.value, value.value))
        elif isinstance(node, yaml.SequenceNode):
            stack += node.value
    lines = []
    for key, value in pairs:
        escaped = value.replace('"', '\\"')
        lines += [f'{key}: "{escaped}"{comment}' for comment in comments]
    return lines


def _noisy_lines(name: str, lines: list[str], mode: str) -> set[str]:
    """The distinct lines (right-stripped) some plugin matches; the others are remembered."""
    from detect_secrets.settings import get_plugins

    kind = f"{mode}:{os.path.splitext(name)[1].lower() or os.path.basename(name)}"
    plugins = get_plugins()
    noisy_texts = set()
    for line in {l.rstrip() for l in lines}:
        key = (kind, line)
        if key in _QUIET:
            continue
        if any(p.analyze_line(filename=name, line=line, line_number=0) for p in plugins):
            noisy_texts.add(line)
        else:
            _QUIET.add(key)
    return noisy_texts


def _scan_lines(name: str, lines: list[str], mode: str) -> list[Hit]:
    noisy_texts = _noisy_lines(name, lines, mode)
    if not noisy_texts:
        return []
    # only the lines some plugin matched can yield a secret (filters only remove); they are
    # processed exactly as detect-secrets does, with their real context from the whole file
    numbered = list(enumerate(lines, start=1))
    noisy = [(n, l) for n, l in numbered if l.rstrip() in noisy_texts]
    hits = set(_process_lines(noisy, [l for _, l in numbered], name))
    return sorted(hits, key=lambda h: (h[2], h[0], h[1]))


def _process_lines(selected, all_lines, filename):
    """detect-secrets' _process_line_based_plugins over `selected` (line number, text) pairs,
    with the code-snippet context taken from all of the file's lines: (type, hash, line)."""
    from detect_secrets.util.code_snippet import get_code_snippet

    for line_number, line in selected:
        line = line.rstrip()
        snippet = get_code_snippet(lines=all_lines, line_number=line_number)
        # plugins and filters see the file name, the line and its context, nothing else: the
        # next version of a file in history repeats most of them
        key = (filename, line, tuple(snippet.lines))
        found = _NOISY.get(key)
        if found is None:
            found = list(_secrets_on_line(filename, line, line_number, snippet))
            if len(_NOISY) < 200_000:
                _NOISY[key] = found
        for kind, hashed in found:
            yield kind, hashed, line_number


# (file name, line, context) -> [(type, hashed_secret)], in this process
_NOISY: dict[tuple, list[tuple[str, str]]] = {}


def _secrets_on_line(filename, line, line_number, snippet):
    from detect_secrets.core.scan import _is_filtered_out, _scan_line
    from detect_secrets.settings import get_plugins

    if _is_filtered_out(required_filter_parameters=["line"], filename=filename, line=line,
                        context=snippet):
        return
    for plugin in get_plugins():
        for secret in _scan_line(plugin=plugin, filename=filename, line=line,
                                 line_number=line_number, context=snippet):
            if not _is_filtered_out(required_filter_parameters=["context"],
                                    filename=secret.filename, secret=secret.secret_value,
                                    plugin=plugin, line=line, context=snippet):
                yield secret.type, secret.secret_hash


def scan_raw_lines(name: str, data: bytes) -> list[Hit]:
    """Scan like detect-secrets' scan_diff does (raw lines, no transformers)."""
    from detect_secrets.core.scan import _is_filtered_out

    if b"\0" in data[:8192]:
        return []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return []
    if _is_filtered_out(required_filter_parameters=["filename"], filename=name):
        return []
    return _scan_lines(name, text.splitlines(keepends=True), "raw")


def _scan_item(item: tuple[str, str, bytes]) -> tuple[str, list[Hit] | str]:
    key, name, data = item
    try:
        return key, scan_content(name, data)
    except Exception as exc:  # report the kind of failure, never the content
        return key, f"scan failed: {type(exc).__name__}"


def _init_worker(settings: dict | None) -> None:
    configure(settings)


def scan_many(items: list[tuple[str, str, bytes]], settings: dict | None,
              workers: int | None = None) -> dict[str, list[Hit] | str]:
    """Scan (key, name, content) items, in a process pool when there are enough to pay.

    One version of each file is scanned here first: forked workers then start knowing the lines
    its other versions share (the quiet-line set), instead of each learning them again. Callers
    sort items by path, so each worker's chunk holds versions of the same files.

    Most of a history is lines this process has already judged, so the scan costs little CPU
    per blob and two workers do not pay for themselves: on 2 cores (bench/gates.py, 2,000
    commits) one process was faster, with less CPU in all, than a pool of two. A pool is used
    from 3 workers up.
    """
    workers = workers or os.cpu_count() or 1
    configure(settings)
    first = {}
    for item in items:
        first.setdefault(item[1], item)
    if len(items) - len(first) < 48 or workers < 3:
        return dict(_scan_item(item) for item in items)
    done = dict(_scan_item(item) for item in first.values())
    rest = [item for item in items if item[0] not in done]
    import multiprocessing

    # fork: the workers inherit the configured plugins and what was learnt above; spawn would
    # re-import detect-secrets and start empty
    forked = "fork" in multiprocessing.get_all_start_methods()
    chunk = max(1, min(64, len(rest) // (workers * 4)))
    with ProcessPoolExecutor(
            max_workers=workers, mp_context=multiprocessing.get_context("fork" if forked else None),
            initializer=None if forked else _init_worker,
            initargs=() if forked else (settings,)) as pool:
        done.update(pool.map(_scan_item, rest, chunksize=chunk))
    return done


def iter_hits(results: dict[str, list[Hit] | str]) -> Iterable[tuple[str, Hit]]:
    for key, hits in results.items():
        if isinstance(hits, list):
            for hit in hits:
                yield key, hit
