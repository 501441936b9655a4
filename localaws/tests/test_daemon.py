"""`python -m localaws up|status|down` round trip in a temp state dir."""

import json
import socket
import subprocess
import sys

from localaws import daemon
from localaws.clients import client


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args):
    return subprocess.run([sys.executable, "-m", "localaws", *args], capture_output=True, text=True,
                          timeout=90)


def test_up_status_down_round_trip(tmp_path):
    port, state_dir = _free_port(), tmp_path / "state"
    up = _cli("up", "--port", str(port), "--state-dir", str(state_dir))
    try:
        assert up.returncode == 0, up.stderr
        state = json.loads((state_dir / "state.json").read_text())
        assert state["endpoint_url"] == f"http://127.0.0.1:{port}"
        assert {"pid", "started_at", "config"} <= set(state)
        assert client("sts", state["endpoint_url"]).get_caller_identity()["Account"] == "123456789012"

        again = _cli("up", "--port", str(port), "--state-dir", str(state_dir))
        assert again.returncode == 0 and "already running" in again.stdout

        status = _cli("status", "--state-dir", str(state_dir))
        assert status.returncode == 0 and state["endpoint_url"] in status.stdout
        assert "Running on" not in up.stdout + status.stdout  # werkzeug stays quiet
    finally:
        down = _cli("down", "--state-dir", str(state_dir))
    assert down.returncode == 0, down.stderr
    assert not (state_dir / "state.json").exists()
    assert (state_dir / "server.log").exists()
    assert _cli("status", "--state-dir", str(state_dir)).returncode == 1
    assert _cli("down", "--state-dir", str(state_dir)).returncode == 1
    assert _cli("bogus").returncode == 2


def test_up_on_a_taken_port_fails_clearly(tmp_path, local_aws, capsys):
    assert daemon.up(port=local_aws.port, state_dir=tmp_path) == 1
    assert f"port {local_aws.port}" in capsys.readouterr().err
    assert not (tmp_path / "state.json").exists()
