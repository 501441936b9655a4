"""The Bundle reference travels as one dict and is opened (downloaded, verified, config loaded) once."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from fleet import bundle as bundle_mod
from fleet import source
from fleet.bundle import Bundle, BundleError

from tests.support.bundles import Body  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


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
