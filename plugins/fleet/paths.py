"""Paths named by the fleet repository stay inside it.

A template, SCP or product path in fleet.yaml is data from the repository under review: an
absolute path, a ``..`` escape or a symlink pointing out of the repository would make the pipeline
deploy or upload a file of the worker's own disk, one that is in no manifest, was never gated and
can change after the approval. The config loader refuses such paths, and every read of a file the
config names goes through ``inside`` again.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath


class PathEscape(ValueError):
    """A repository path that leaves the repository."""


def escape_reason(rel: str, root: Path) -> str | None:
    """Why ``rel`` (a path in the repo's config) leaves ``root``, or None when it stays inside."""
    if "\\" in rel or "\0" in rel:
        return f"a relative path with / separators, got {rel!r}"
    pure = PurePosixPath(rel)
    if pure.is_absolute() or rel.startswith("~"):
        return f"a path relative to the fleet repository, got the absolute path {rel!r}"
    if ".." in pure.parts:
        return f"a path inside the fleet repository, {rel!r} climbs out with '..'"
    root = root.resolve()
    target = root / pure
    try:
        resolved = target.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return f"a path inside the fleet repository, {rel!r} is a symlink loop"
    if not resolved.is_relative_to(root):
        return f"a path inside the fleet repository, {rel!r} is a symlink to {resolved} outside it"
    return None


def inside(root: Path, rel: str) -> Path:
    """``root / rel``, refused (PathEscape) unless it stays inside ``root``."""
    reason = escape_reason(rel, root)
    if reason:
        raise PathEscape(f"{root}: {reason}")
    return root / rel
