"""Local AWS as a background process: `up`, `down`, `status`.

The server runs in its own session (so closing the terminal that ran `up` does not stop it) and
is found again through `<state-dir>/state.json`. Every function prints one human line or two and
returns the exit code: 0 ok, 1 not running (or could not start), 2 bad usage or bad config.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from localaws.server import HOST, health, port_free, wait_until_answers

OK, NOT_RUNNING, USAGE = 0, 1, 2
DEFAULT_PORT = 4566
DEFAULT_STATE_DIR = ".localaws"
DEFAULT_PROFILE = "default"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0


def _state_file(state_dir: str | Path) -> Path:
    return Path(state_dir) / "state.json"


def read_state(state_dir: str | Path = DEFAULT_STATE_DIR) -> dict[str, Any] | None:
    """The recorded server, or None when there is no (readable) state file."""
    try:
        return json.loads(_state_file(state_dir).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        # Reap it first if it is our own child (tests, or `up` and `down` in one process):
        # a zombie still answers kill(pid, 0).
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _running(state: dict[str, Any] | None) -> bool:
    """True when the recorded process is alive and is the local AWS answering at its endpoint."""
    if not state:
        return False
    answer = health(state["endpoint_url"])
    return answer is not None and answer.get("pid") == state["pid"] and _alive(state["pid"])


def _log_tail(log_file: Path, lines: int = 15) -> str:
    try:
        return "\n".join(log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def up(port: int = DEFAULT_PORT, config: str | Path | None = None,
       state_dir: str | Path = DEFAULT_STATE_DIR, profile: str | Path | None = None) -> int:
    """Start local AWS in the background on 127.0.0.1:`port`, seeded from `config` if given,
    behaving as behaviour `profile` says (a shipped name such as ``realistic``, or a YAML file)."""
    state_dir = Path(state_dir).resolve()
    profile_ref = DEFAULT_PROFILE
    if profile is not None:
        from localaws.behaviour.profile import ProfileError, load_profile, reference

        try:
            load_profile(profile)  # fail here, with file and key, not in the child's log
        except ProfileError as exc:
            print(f"local AWS: bad profile: {exc}", file=sys.stderr)
            return USAGE
        profile_ref = reference(profile)
    config_path = str(Path(config).resolve()) if config else None
    if config_path is not None:
        from localaws.seed_config import SeedError, read_seed_config

        try:
            read_seed_config(config_path)  # fail here, with file, key and line, not in the child's log
        except SeedError as exc:
            print(f"local AWS: bad fleet config {config}: {exc}", file=sys.stderr)
            return USAGE

    state = read_state(state_dir)
    if _running(state):
        assert state is not None
        running_profile = state.get("profile") or DEFAULT_PROFILE
        if state.get("config") == config_path and state.get("port") == port and running_profile == profile_ref:
            print(f"local AWS already running at {state['endpoint_url']} (pid {state['pid']})")
            return OK
        print(f"local AWS already running at {state['endpoint_url']} with config "
              f"{state.get('config')} and profile {running_profile}; run `down` first to start it with "
              f"config {config_path} and profile {profile_ref} on port {port}", file=sys.stderr)
        return NOT_RUNNING
    _state_file(state_dir).unlink(missing_ok=True)  # stale: its process is gone

    if not port_free(port):
        print(f"local AWS: port {port} on {HOST} is already in use by another process; free it "
              f"or choose another with --port", file=sys.stderr)
        return NOT_RUNNING

    state_dir.mkdir(parents=True, exist_ok=True)
    log_file = state_dir / "server.log"
    command = [sys.executable, "-m", "localaws", "serve", "--port", str(port),
               "--log-file", str(log_file)]
    if config_path:
        command += ["--config", config_path]
    if profile_ref != DEFAULT_PROFILE:
        command += ["--profile", profile_ref]
    with open(log_file, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True, close_fds=True)
    endpoint_url = f"http://{HOST}:{port}"
    answer = wait_until_answers(endpoint_url, timeout=START_TIMEOUT,
                                alive=lambda: process.poll() is None)
    if answer is None or answer.get("pid") != process.pid:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:  # busy seeding: it may not reach its signal handler
                process.kill()
                process.wait()
        print(f"local AWS did not answer within {START_TIMEOUT:.0f}s (see {log_file}):\n{_log_tail(log_file)}",
              file=sys.stderr)
        return NOT_RUNNING

    state = {"pid": process.pid, "endpoint_url": endpoint_url, "port": port,
             "started_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "config": config_path, "profile": profile_ref, "log": str(log_file)}
    tmp = _state_file(state_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n", encoding="utf-8")
    tmp.replace(_state_file(state_dir))
    seeded = f", seeded from {config_path}" if config_path else ""
    behaviour = f", profile {profile_ref}" if profile_ref != DEFAULT_PROFILE else ""
    print(f"local AWS running at {endpoint_url} (pid {process.pid}){seeded}{behaviour}")
    return OK


def down(state_dir: str | Path = DEFAULT_STATE_DIR) -> int:
    """Stop the background local AWS recorded in `state_dir` (SIGTERM, then SIGKILL)."""
    state = read_state(state_dir)
    if state is None:
        print("local AWS is not running")
        return NOT_RUNNING
    pid = state["pid"]
    if not _running(state):
        # Never signal a pid we cannot prove is ours: it may have been reused.
        _state_file(state_dir).unlink(missing_ok=True)
        print(f"local AWS is not running (removed stale state for pid {pid})")
        return NOT_RUNNING
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)
    _state_file(state_dir).unlink(missing_ok=True)
    print(f"local AWS stopped (pid {pid})")
    return OK


def status(state_dir: str | Path = DEFAULT_STATE_DIR) -> int:
    """Say whether the background local AWS runs, and where."""
    state = read_state(state_dir)
    if not _running(state):
        print("local AWS is not running")
        return NOT_RUNNING
    assert state is not None
    config = state.get("config") or "no fleet config"
    print(f"local AWS running at {state['endpoint_url']} (pid {state['pid']}, since "
          f"{state['started_at']}, {config}, profile {state.get('profile') or DEFAULT_PROFILE})")
    return OK
