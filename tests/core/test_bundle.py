"""The Bundle reference travels as one dict and is opened (downloaded, verified, config loaded) once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import bundle as bundle_mod
from fleet import source
from fleet.bundle import Bundle, BundleError

REPO = Path(__file__).resolve().parents[2]


class Body:
    def __init__(self, data: bytes):
        self.data = data

    def read(self) -> bytes:
        return self.data


class CountingS3:
    """Just enough of S3 for ``source.fetch``: one stored bundle, and a count of the downloads."""

    def __init__(self, key: str, data: bytes):
        self.key, self.data, self.downloads = key, data, 0

    def get_object(self, Bucket: str, Key: str) -> dict:
        assert Key == self.key, Key
        self.downloads += 1
        return {"Body": Body(self.data)}


class Ctx:
    def __init__(self, s3: CountingS3):
        self.s3 = s3

    def client(self, service: str, *args):
        assert service == "s3", service
        return self.s3


def test_a_bundle_round_trips_through_one_dict():
    b = Bundle("bucket-1", "d" * 64, "c" * 40, files=12, uploaded=True)
    d = b.to_dict()
    assert d["key"] == f"bundles/{'d' * 64}/bundle.tar.gz" and d["files"] == 12
    assert Bundle.from_dict(d) == b
    assert Bundle.from_dict({**d, "added_later": 1}) == b  # an XCom from a newer version still reads


@pytest.mark.parametrize("bad", [{}, {"bucket": "b"}, {"digest": "d"}, {"bucket": "b", "digest": 7}, None])
def test_a_reference_without_bucket_and_digest_is_refused_by_name(bad):
    with pytest.raises(BundleError, match="'bucket' and 'digest'"):
        Bundle.from_dict(bad)


def test_a_bundle_is_downloaded_and_its_config_loaded_once_per_process(tmp_path, monkeypatch):
    monkeypatch.setattr(bundle_mod, "work_dir", lambda: tmp_path / "bundles")
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    snap = source.snapshot(repo)
    s3 = CountingS3(source.bundle_key(snap.digest), source.bundle_bytes(snap))
    ref = Bundle("bucket-1", snap.digest, None)

    first = ref.open(Ctx(s3))
    assert (first.root / "fleet.yaml").is_file() and first.config.organization.management_account == "123456789012"
    again = Bundle.from_dict(ref.to_dict()).open(Ctx(s3))
    assert s3.downloads == 1 and again.config is first.config
    # The same digest with more of its reference known (the commit) keeps that reference.
    richer = Bundle("bucket-1", snap.digest, "c" * 40).open(Ctx(s3))
    assert richer.commit == "c" * 40 and richer.config is first.config and s3.downloads == 1
    # An older bundle of the same bucket is reached through the reference, not rebuilt by hand.
    assert ref.sibling("e" * 64) == Bundle("bucket-1", "e" * 64)


def _tar_with(snap, extra: dict[str, bytes] | None = None, drop: str | None = None) -> bytes:
    """The snapshot's bundle as an attacker would replace it in S3: the same manifest, files added or dropped."""
    import io
    import json
    import tarfile

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        entries = {source.MANIFEST: json.dumps(snap.manifest()).encode()}
        entries |= {f"{source.TREE}/{rel}": (snap.root / rel).read_bytes() for rel in snap.files if rel != drop}
        for name, data in (entries | (extra or {})).items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture
def snap(tmp_path):
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    return source.snapshot(repo)


@pytest.mark.parametrize("extra, drop, expected", [
    ({f"{source.TREE}/.cfnlintrc": b"ignore_checks: [E]\n"}, None, "files not in its manifest: '.cfnlintrc'"),
    ({"notes.txt": b"x"}, None, "files outside the manifest: 'notes.txt'"),
    (None, "fleet.yaml", "files of its manifest missing: 'fleet.yaml'"),
])
def test_a_bundle_with_extra_or_missing_files_is_refused_and_leaves_nothing(tmp_path, snap, extra, drop, expected):
    s3 = CountingS3(source.bundle_key(snap.digest), _tar_with(snap, extra, drop))
    with pytest.raises(source.SourceError, match=expected):
        source.fetch(Ctx(s3), "bucket-1", snap.digest, tmp_path / "bundles")
    assert list((tmp_path / "bundles").iterdir()) == []  # no half-made folder left behind


def test_a_poisoned_bundle_cache_is_detected_and_fetched_again(tmp_path, snap):
    s3 = CountingS3(source.bundle_key(snap.digest), source.bundle_bytes(snap))
    cache = tmp_path / "bundles"
    files = source.fetch(Ctx(s3), "bucket-1", snap.digest, cache)
    assert (cache.stat().st_mode & 0o777) == 0o700  # private: other local users cannot write into it
    (files / ".cfnlintrc").write_text("ignore_checks: [E]\n")
    (files / "fleet.yaml").write_text((files / "fleet.yaml").read_text().replace("platform-lead", "mallory"))
    again = source.fetch(Ctx(s3), "bucket-1", snap.digest, cache)
    assert s3.downloads == 2 and not (again / ".cfnlintrc").exists()
    assert (again / "fleet.yaml").read_bytes() == (snap.root / "fleet.yaml").read_bytes()


def test_a_world_writable_cache_folder_is_made_private(tmp_path, snap):
    cache = tmp_path / "bundles"
    cache.mkdir(mode=0o777)
    cache.chmod(0o777)
    s3 = CountingS3(source.bundle_key(snap.digest), source.bundle_bytes(snap))
    source.fetch(Ctx(s3), "bucket-1", snap.digest, cache)
    assert (cache.stat().st_mode & 0o777) == 0o700


def test_a_bundle_holding_a_symlink_is_refused(tmp_path, snap):
    """A symlink would let a manifest-listed path read another file once unpacked."""
    import io
    import tarfile

    good = source.bundle_bytes(snap)
    buf = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(good), mode="r:gz") as src, tarfile.open(fileobj=buf, mode="w:gz") as out:
        for member in src.getmembers():
            out.addfile(member, src.extractfile(member))
        link = tarfile.TarInfo(f"{source.TREE}/templates/link.yaml")
        link.type, link.linkname = tarfile.SYMTYPE, "../fleet.yaml"
        out.addfile(link)
    s3 = CountingS3(source.bundle_key(snap.digest), buf.getvalue())
    with pytest.raises(source.SourceError, match="'templates/link.yaml' is not a regular file"):
        source.fetch(Ctx(s3), "bucket-1", snap.digest, tmp_path / "bundles")
