"""The fleet repository from a git URL: a private clone per commit, made by the Source stage only.

On Celery the tasks of one run land on different workers that share no folder, so ``fleet_repo`` may
be a git URL (https, ssh, ``git@host:path`` or ``file://``) with ``source_ref`` (branch, tag or
commit). The Source stage resolves the ref to a commit, clones the repository with its full history
(the secrets gate scans every blob ever committed) into a private cache named after the commit, and
snapshots that commit into the S3 bundle. Every later stage reads the bundle only; the history scan's
findings go next to the bundle (``fleet.stages.source.scan_history``), so the build stage never needs
the clone.

Credentials never go into the URL (URLs are logged, and stored in the run's Params): a token is
sent as an HTTP ``Authorization`` header through git's environment-only configuration
(``GIT_CONFIG_COUNT``), so it is in neither the command line nor ``.git/config``; an SSH key is
written to an owner-only file for the duration of the command.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

GIT_URL = re.compile(r"^(https?://|ssh://|file://|git://|[\w.-]+@[\w.-]+:)")
COMMIT = re.compile(r"^[0-9a-f]{40}$")
CACHE_ENV = "FLEET_GIT_CACHE"


class GitSourceError(RuntimeError):
    pass


@dataclass(frozen=True)
class GitAuth:
    """What an Airflow connection holds for a git remote (the git provider's ``git`` connection:
    login, password = token, extra ``private_key``); all optional."""

    username: str | None = None
    token: str | None = None
    private_key: str | None = None

    def __repr__(self) -> str:  # never print a secret, even in a traceback's locals
        return f"GitAuth(username={self.username!r}, token={'***' if self.token else None}, " \
               f"private_key={'***' if self.private_key else None})"


def is_git_url(value: str) -> bool:
    return bool(GIT_URL.match(str(value)))


def redact(url: str) -> str:
    """The URL as it may be logged: any user-info password replaced."""
    return re.sub(r"^([a-z+]+://)([^/@:]+):[^/@]*@", r"\1\2:***@", url)


def cache_root() -> Path:
    """The clone cache, owner-only: FLEET_GIT_CACHE, else a folder per user under the temp folder."""
    root = Path(os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / f"fleet-git-{os.getuid()}")
    root.mkdir(mode=0o700, parents=True, exist_ok=True)
    st = root.stat()
    if st.st_uid != os.getuid() or stat.S_IMODE(st.st_mode) & 0o077:
        raise GitSourceError(
            f"{root}: the git clone cache must be a folder owned by this user with mode 0700 "
            f"(it is owned by uid {st.st_uid}, mode {stat.S_IMODE(st.st_mode):o}); set {CACHE_ENV} "
            f"to a private folder")
    return root


def resolve(url: str, ref: str | None, auth: GitAuth | None = None) -> str:
    """The commit ``ref`` (default: the remote's HEAD) names on the remote."""
    if ref and COMMIT.match(ref):
        return ref
    wanted = ref or "HEAD"
    out = _git(["ls-remote", url, wanted], auth, url=url).stdout
    refs = {}
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        refs[name] = sha
    for name in (wanted, f"refs/heads/{wanted}", f"refs/tags/{wanted}^{{}}", f"refs/tags/{wanted}"):
        if name in refs:
            return refs[name]
    raise GitSourceError(f"{redact(url)}: source_ref {wanted!r} is not a branch, tag or commit of the repository")


def clone(url: str, ref: str | None = None, auth: GitAuth | None = None) -> tuple[Path, str]:
    """A full clone of ``url`` checked out at ``ref``'s commit; made once per commit, reused after.

    Returns (work tree, commit). Two tasks cloning the same commit at once both succeed: each clones
    into its own staging folder and the first rename wins.
    """
    commit = resolve(url, ref, auth)
    key = hashlib.sha256(redact(url).encode()).hexdigest()[:16]
    dest = cache_root() / key / commit
    if (dest / ".git").is_dir():
        return dest, commit
    dest.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".clone-", dir=dest.parent))
    try:
        _git(["clone", "--quiet", "--no-checkout", url, str(staging)], auth, url=url)
        found = _git(["-C", str(staging), "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}"], None,
                     url=url, check=False)
        if found.returncode != 0:
            # A commit no branch or tag reaches (a push event for a force-pushed-over commit).
            _git(["-C", str(staging), "fetch", "--quiet", "origin", commit], auth, url=url)
        _git(["-C", str(staging), "checkout", "--quiet", "--detach", commit], None, url=url)
        try:
            staging.rename(dest)
        except OSError:
            if not (dest / ".git").is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest, commit


def _git(args: list[str], auth: GitAuth | None, *, url: str, check: bool = True) -> subprocess.CompletedProcess:
    with _auth_env(auth) as env:
        done = subprocess.run(["git", *args], capture_output=True, text=True, env=env)
    if check and done.returncode != 0:
        message = (done.stderr or done.stdout).strip().replace(url, redact(url))
        if auth and auth.token:
            message = message.replace(auth.token, "***")
        raise GitSourceError(f"{redact(url)}: git {args[0] if args[0] != '-C' else args[2]} failed: {message}")
    return done


@contextmanager
def _auth_env(auth: GitAuth | None) -> Iterator[dict[str, str]]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_ASKPASS="true")
    if auth is None:
        yield env
        return
    if auth.token:
        basic = base64.b64encode(f"{auth.username or 'x-access-token'}:{auth.token}".encode()).decode()
        env.update(GIT_CONFIG_COUNT="1", GIT_CONFIG_KEY_0="http.extraHeader",
                   GIT_CONFIG_VALUE_0=f"Authorization: Basic {basic}")
    if not auth.private_key:
        yield env
        return
    keydir = Path(tempfile.mkdtemp(prefix="fleet-ssh-"))  # mkdtemp is 0700
    try:
        key = keydir / "id"
        key.touch(mode=0o600)
        key.write_text(auth.private_key.strip() + "\n")
        env["GIT_SSH_COMMAND"] = (f"ssh -i {key} -o IdentitiesOnly=yes -o BatchMode=yes "
                                  f"-o StrictHostKeyChecking=accept-new")
        yield env
    finally:
        shutil.rmtree(keydir, ignore_errors=True)
