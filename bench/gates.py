"""Benchmark: `fleet check` cold and warm against the standalone tools doing the same work.

Builds a fleet repo of N templates and M commits (git fast-import, so building is not what we
time), then times, in one run:
  cold        `fleet check` with empty caches (every blob, every template)
  warm        `fleet check` again, nothing changed
  standalone  detect-secrets over the tree (CLI) + detect-secrets over each commit's diff
              (its scan_diff, all commits in one process: the fastest way the tool offers)
              + cfn-lint over the templates (CLI, one process)
Each side runs as its own process(es), imports included. The last line reads
`gates cold=<cold/standalone> warm=<warm/standalone>`.

    python bench/gates.py                         # 200 templates, 2,000 commits
    python bench/gates.py --templates 20 --commits 100   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEMPLATE = """AWSTemplateFormatVersion: "2010-09-09"
Description: fleet bench product {i} revision {rev}
Parameters:
  Retention{i}:
    Type: Number
    Default: {days}
Resources:
  Key{i}:
    Type: AWS::KMS::Key
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      EnableKeyRotation: true
      Tags: [{{Key: fleet:managed-by, Value: fleet-pipeline}}]
  Bucket{i}:
    Type: AWS::S3::Bucket
    DeletionPolicy: Retain
    UpdateReplacePolicy: Retain
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt Key{i}.Arn
      VersioningConfiguration: {{Status: Enabled}}
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      LoggingConfiguration:
        DestinationBucketName: !Sub "logs-${{AWS::AccountId}}"
      LifecycleConfiguration:
        Rules:
          - Id: expire-{rev}
            Status: Enabled
            NoncurrentVersionExpiration: {{NoncurrentDays: !Ref Retention{i}}}
      Tags:
        - {{Key: fleet:managed-by, Value: fleet-pipeline}}
        - {{Key: fleet:revision, Value: "r{rev}"}}
Outputs:
  Bucket{i}Name:
    Value: !Ref Bucket{i}
"""

# assembled at run time so this file holds no secret-looking literal
LEAK = 'aws_access_key_id = "' + "AKIA" + "IOSFODNN7" + 'EXAMPLF"\n'

STANDALONE_DIFFS = r"""
import subprocess, sys
from detect_secrets.core.scan import scan_diff
from detect_secrets.settings import default_settings, get_settings
repo = sys.argv[1]
out = subprocess.run(["git", "-C", repo, "log", "--all", "-p", "--format=%x00%H"],
                     capture_output=True, text=True).stdout
found = 0
with default_settings():
    # files deleted by a later commit are not on disk: scan them anyway, as fleet check does
    get_settings().disable_filters("detect_secrets.filters.common.is_invalid_file")
    for chunk in out.split("\x00")[1:]:
        sha, _, diff = chunk.partition("\n")
        if diff.strip():
            found += sum(1 for _ in scan_diff(diff.lstrip("\n")))
print(found)
"""


def build_repo(path: Path, templates: int, commits: int) -> None:
    """One commit adding the templates, then commits each revising one template; a secret is
    added and removed again a third of the way in, so both sides have something to find."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    lines: list[bytes] = []
    mark = 0

    def blob(text: str) -> int:
        nonlocal mark
        mark += 1
        data = text.encode()
        lines.append(b"blob\nmark :%d\ndata %d\n%s\n" % (mark, len(data), data))
        return mark

    def commit(n: int, files: dict[str, int | None]) -> None:
        msg = f"commit {n}".encode()
        body = [b"commit refs/heads/main\n",
                b"committer bench <bench@example.com> %d +0000\n" % (1_700_000_000 + n),
                b"data %d\n%s\n" % (len(msg), msg)]
        for name, m in files.items():
            body.append(b"D %s\n" % name.encode() if m is None
                        else b"M 100644 :%d %s\n" % (m, name.encode()))
        lines.append(b"".join(body) + b"\n")

    first = {f"templates/product-{i:03d}.yaml": blob(TEMPLATE.format(i=i, rev=0, days=90))
             for i in range(templates)}
    first["fleet.yaml"] = blob("organization: {management_account: \"123456789012\"}\n")
    commit(0, first)
    leak_at = max(1, commits // 3)
    for n in range(1, commits):
        i = n % templates
        if n == leak_at:
            commit(n, {"settings.py": blob("region = 'us-east-1'\n" + LEAK)})
        elif n == leak_at + 1:
            commit(n, {"settings.py": None})
        else:
            commit(n, {f"templates/product-{i:03d}.yaml":
                       blob(TEMPLATE.format(i=i, rev=n, days=30 + n % 300))})
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(lines),
                   check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "-f", "main"], check=True)


def timed(args: list[str], cwd: Path, env=None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1, 2) or (proc.returncode == 2 and "cfn-lint" not in args[0]):
        sys.exit(f"bench: {' '.join(args[:4])} exited {proc.returncode}: {proc.stderr[-800:]}")
    return elapsed, proc.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=200)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the generated repo")
    args = parser.parse_args(argv)

    py = sys.executable
    bindir = Path(py).parent
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    repo = tmp / "fleet"
    try:
        t0 = time.perf_counter()
        build_repo(repo, args.templates, args.commits)
        print(f"built {args.templates} templates, {args.commits} commits in "
              f"{time.perf_counter() - t0:.1f}s at {repo}")
        env = dict(os.environ, PYTHONPATH=str(REPO / "plugins"))
        check = [py, "-m", "fleet.gates.command", str(repo), "--format", "json"]
        shutil.rmtree(repo / ".git" / "fleet-secrets-cache", ignore_errors=True)
        cold, out = timed(check, REPO, env)
        warm, _ = timed(check, REPO, env)
        summary = json.loads(out)["summary"]
        secrets = [f for f in json.loads(out)["findings"] if f["gate"] == "secrets"]

        templates = sorted(str(p) for p in (repo / "templates").glob("*.yaml"))
        ds_tree, _ = timed([str(bindir / "detect-secrets"), "scan", "--all-files"], repo)
        ds_diffs, found = timed([py, "-c", STANDALONE_DIFFS, str(repo)], repo)
        cfn, _ = timed([str(bindir / "cfn-lint"), "--regions", "us-east-1", "eu-west-1", "--",
                     *templates], repo)
        standalone = ds_tree + ds_diffs + cfn
        print(f"fleet check: {summary['errors']} error(s); secrets in history: "
              f"{len(secrets)}; per-gate seconds (cold): "
              + ", ".join(f"{g} {v['seconds']:.2f}" for g, v in summary["gates"].items()))
        print(f"standalone diff scan found {found.strip()} potential secret(s)")
        print(f"fleet check cold   {cold:7.2f}s  (secrets tree+history, lint, policy, iam, unit)")
        print(f"fleet check warm   {warm:7.2f}s")
        print(f"standalone         {standalone:7.2f}s  = detect-secrets tree {ds_tree:.2f}s"
              f" + per-commit diffs {ds_diffs:.2f}s + cfn-lint {cfn:.2f}s")
        print(f"gates cold={cold / standalone:.2f} warm={warm / standalone:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
