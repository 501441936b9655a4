"""A bundle is its manifest, exactly, and the worker's caches are private, keyed by content and
verified again on use (issue 12, items 2 and 3)."""

from __future__ import annotations

import gzip
import io
import json
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from fleet import source
from fleet.cachedir import CacheError, private_dir

from tests.support.bundles import Body  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


class S3:
    """Just enough of S3 for ``source.fetch``: one stored object, and a count of the downloads."""

    def __init__(self, data: bytes):
        self.data, self.downloads = data, 0

    def get_object(self, Bucket: str, Key: str) -> dict:
        self.downloads += 1
        return {"Body": Body(self.data)}


class Ctx:
    def __init__(self, s3: S3):
        self.s3 = s3

    def client(self, service: str, *args):
        return self.s3


def snap(tmp_path: Path) -> source.Snapshot:
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    return source.snapshot(repo)


def retar(data: bytes, add: dict[str, bytes] | None = None, drop: set[str] = frozenset()) -> bytes:
    """The bundle's tar with members added or removed; the manifest left as it was (same digest)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for m in src.getmembers():
            if m.name not in drop:
                dst.addfile(m, src.extractfile(m))
        for name, body in (add or {}).items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            dst.addfile(info, io.BytesIO(body))
    return out.getvalue()


def test_a_bundle_with_an_extra_file_is_refused_by_name(tmp_path):
    s = snap(tmp_path)
    poisoned = retar(source.bundle_bytes(s), add={"files/.cfnlintrc": b"ignore_checks: [E]\n"})
    with pytest.raises(source.SourceError, match=r"files not in its manifest: \.cfnlintrc"):
        source.fetch(Ctx(S3(poisoned)), "b", s.digest, tmp_path / "work")
    assert not [p for p in (tmp_path / "work").iterdir() if not p.name.startswith(".seal")], \
        "a refused bundle leaves no folder behind"


def test_a_bundle_with_a_missing_file_is_refused_by_name(tmp_path):
    s = snap(tmp_path)
    poisoned = retar(source.bundle_bytes(s), drop={"files/templates/security-baseline.yaml"})
    with pytest.raises(source.SourceError, match="manifest files missing: templates/security-baseline.yaml"):
        source.fetch(Ctx(S3(poisoned)), "b", s.digest, tmp_path / "work")


def test_a_file_name_with_control_characters_is_escaped_in_the_refusal(tmp_path):
    s = snap(tmp_path)
    poisoned = retar(source.bundle_bytes(s), add={"files/x\n\x1b[32mOK": b"1"})
    with pytest.raises(source.SourceError) as err:
        source.fetch(Ctx(S3(poisoned)), "b", s.digest, tmp_path / "work")
    assert "\n" not in str(err.value) and "\x1b" not in str(err.value) and "x\\n\\x1b[32mOK" in str(err.value)


def test_a_poisoned_unpacked_bundle_is_detected_and_fetched_again(tmp_path):
    s = snap(tmp_path)
    s3 = S3(source.bundle_bytes(s))
    work = tmp_path / "work"
    root = source.fetch(Ctx(s3), "b", s.digest, work)
    config = root / "fleet.yaml"
    original = config.read_bytes()
    # The attack: the .verified marker is still there, the approvers were edited in place.
    config.write_bytes(original.replace(b"approvers:", b"approvers: [mallory]\n  old_approvers:"))
    (root / ".cfnlintrc").write_text("ignore_checks: [E]\n")
    again = source.fetch(Ctx(s3), "b", s.digest, work)
    assert s3.downloads == 2, "the edited copy was trusted"
    assert (again / "fleet.yaml").read_bytes() == original and not (again / ".cfnlintrc").exists()


def test_the_work_folder_is_owner_only(tmp_path):
    s = snap(tmp_path)
    work = tmp_path / "work"
    source.fetch(Ctx(S3(source.bundle_bytes(s))), "b", s.digest, work)
    assert (os.stat(work).st_mode & 0o777) == 0o700


def test_a_cache_folder_that_is_a_symlink_is_refused(tmp_path):
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "cache").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(CacheError, match="not a symlink"):
        private_dir(tmp_path / "cache")


def test_a_loose_cache_folder_of_ours_is_closed(tmp_path):
    (tmp_path / "cache").mkdir(mode=0o777)
    os.chmod(tmp_path / "cache", 0o777)
    private_dir(tmp_path / "cache")
    assert (os.stat(tmp_path / "cache").st_mode & 0o777) == 0o700


def test_a_bundle_that_is_not_gzip_is_refused_cleanly(tmp_path):
    s = snap(tmp_path)
    with pytest.raises(source.SourceError, match="cannot be unpacked"):
        source.fetch(Ctx(S3(gzip.compress(b"not a tar"))), "b", s.digest, tmp_path / "work")


# -- the source_ref export cache: keyed by the commit, verified against git's blob ids -------------

def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), "-c", "user.email=t@example.com", "-c", "user.name=t", *args],
                          check=True, capture_output=True, text=True).stdout


def test_a_poisoned_source_export_is_detected_and_exported_again(tmp_path, monkeypatch):
    monkeypatch.setattr(source.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "include", repo / "include")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fleet")
    first = source.snapshot(repo / "include", ref="main")
    export = first.root
    assert export.is_relative_to(tmp_path / "tmp" / "fleet-sources")
    assert (os.stat(tmp_path / "tmp" / "fleet-sources").st_mode & 0o777) == 0o700
    (export / "fleet.yaml").write_text((export / "fleet.yaml").read_text() + "\n# poisoned\n")
    (export / "planted.txt").write_text("x")
    second = source.snapshot(repo / "include", ref="main")
    assert second.digest == first.digest and "planted.txt" not in second.files


def test_a_symlink_out_of_the_repo_is_never_snapshotted(tmp_path):
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    (tmp_path / "worker-secret").write_text("the worker's own file")
    (repo / "templates" / "leak.yaml").symlink_to(tmp_path / "worker-secret")
    with pytest.raises(source.SourceError, match="leak.yaml is a symlink to .* outside the repository"):
        source.snapshot(repo)


# -- the gate result caches: private, sealed, bound to their content key --------------------------------

def test_a_planted_gate_result_is_not_trusted(tmp_path):
    from fleet.gates import runner

    cache = tmp_path / "cache"
    runner._store_json(cache, "lint", "k1", [{"x": 1}])
    assert runner._load_json(cache, "lint", "k1") == [{"x": 1}]
    entry = cache / "gate-lint-k1.json"
    doc = json.loads(entry.read_text())
    doc["body"] = json.dumps([])  # "no findings": the edit that cleared lint errors
    entry.write_text(json.dumps(doc))
    assert runner._load_json(cache, "lint", "k1") is None
    # an entry of another key copied over this one is refused too
    runner._store_json(cache, "lint", "k2", [])
    shutil.copy(cache / "gate-lint-k2.json", cache / "gate-lint-k1.json")
    assert runner._load_json(cache, "lint", "k1") is None
    assert (os.stat(cache).st_mode & 0o777) == 0o700 and (os.stat(cache / "gate-lint-k2.json").st_mode & 0o777) == 0o600


def test_a_planted_secrets_cache_entry_is_rescanned(tmp_path):
    from fleet.gates.secrets_gate import _Cache

    c = _Cache(tmp_path / "cache", "d1")
    c.put("blob-1", [{"type": "AWS Access Key"}])
    c.save()
    assert _Cache(tmp_path / "cache", "d1").get("blob-1") == [{"type": "AWS Access Key"}]
    doc = json.loads(c.path.read_text())
    doc["body"] = json.dumps({"blob-1": []})
    c.path.write_text(json.dumps(doc))
    assert _Cache(tmp_path / "cache", "d1").get("blob-1") is None


# -- paths are refused again where a bundle is opened and where its files are deployed -----------------

def test_a_bundle_naming_a_worker_file_is_refused_when_opened(tmp_path, monkeypatch):
    from fleet import bundle as bundle_mod
    from fleet.config import ConfigError

    monkeypatch.setattr(bundle_mod, "work_dir", lambda: tmp_path / "bundles")
    repo = tmp_path / "fleet"
    shutil.copytree(REPO / "include", repo)
    cfg = repo / "fleet.yaml"
    cfg.write_text(cfg.read_text().replace("template: templates/security-baseline.yaml", "template: /etc/hostname"))
    s = source.snapshot(repo)  # the snapshot does not judge the config; opening the bundle does
    with pytest.raises(ConfigError, match=r"baselines\[\d\]\.template: .*absolute path '/etc/hostname'"):
        bundle_mod.Bundle("b", s.digest).open(Ctx(S3(source.bundle_bytes(s))))


def test_deploys_read_templates_only_inside_the_bundle(tmp_path):
    import dataclasses

    from fleet.config import load_config
    from fleet.deploy import baseline_targets
    from fleet.paths import PathEscape

    fleet = load_config(REPO / "include" / "fleet.yaml")
    evil = dataclasses.replace(fleet.baselines[0], template="../../../etc/hostname")
    with pytest.raises(PathEscape, match="climbs out"):
        baseline_targets(fleet, evil, [], REPO / "include")
