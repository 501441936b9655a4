"""The bundle: one reference to a snapshotted fleet repository in S3, and the same bundle opened.

A ``Bundle`` is what travels between stages (as one small dict through XCom): where the bundle
lives and what it is. ``Bundle.open`` downloads and verifies it once per process and digest and
returns an ``OpenBundle`` holding its files and its validated config, which every stage then uses
without opening it again.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from fleet import source
from fleet.aws import AwsContext
from fleet.config import FleetConfig, load_config

CONFIG_NAME = "fleet.yaml"


class BundleError(ValueError):
    """A bundle reference that cannot be used (missing or mistyped keys)."""


def work_dir() -> Path:
    """Where bundles are unpacked (digest-named, verified): FLEET_WORK_DIR, else the temp folder."""
    return Path(os.environ.get("FLEET_WORK_DIR") or Path(tempfile.gettempdir()) / "fleet-bundles")


@dataclass(frozen=True)
class Bundle:
    """Where a bundle is stored and what it holds; its digest names it everywhere downstream."""

    bucket: str
    digest: str
    commit: str | None = None
    files: int = 0
    key: str = ""
    dirty: bool = False
    uploaded: bool = False  # the snapshot that made this reference uploaded it (vs. found it there)

    def __post_init__(self):
        if not self.key:
            object.__setattr__(self, "key", source.bundle_key(self.digest))

    @property
    def short(self) -> str:
        return self.digest[:12]

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Bundle:
        if isinstance(d, Bundle):
            return d
        if not isinstance(d, dict) or not all(isinstance(d.get(k), str) and d.get(k) for k in ("bucket", "digest")):
            raise BundleError(f"a bundle reference needs string keys 'bucket' and 'digest', got {d!r}")
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    def sibling(self, digest: str) -> Bundle:
        """Another bundle in the same bucket (an earlier one, for a rollback)."""
        return Bundle(self.bucket, digest)

    def open(self, ctx: AwsContext) -> OpenBundle:
        """The bundle's files on local disk (verified against its digest) and its validated config."""
        root_dir = work_dir()
        key = (self.bucket, self.digest, str(root_dir))
        with _lock:
            cached = _opened.get(key)
        if cached is not None and cached.root.is_dir():
            return cached if cached.ref == self else OpenBundle(self, cached.root, cached.config)
        root = source.fetch(ctx, self.bucket, self.digest, root_dir)
        opened = OpenBundle(self, root, load_config(root / CONFIG_NAME))
        with _lock:
            _opened[key] = opened
        return opened


@dataclass(frozen=True)
class OpenBundle:
    """A bundle unpacked on this machine: its reference, its files' folder and its loaded config."""

    ref: Bundle
    root: Path
    config: FleetConfig

    @property
    def digest(self) -> str:
        return self.ref.digest

    @property
    def bucket(self) -> str:
        return self.ref.bucket

    @property
    def commit(self) -> str | None:
        return self.ref.commit


# Bundles are content-addressed, so a digest once opened never changes: one open per process.
_opened: dict[tuple[str, str, str], OpenBundle] = {}
_lock = threading.Lock()
