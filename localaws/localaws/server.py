"""moto's server in this process, on loopback, behind a small extension layer.

In-process (not `moto_server` in a subprocess) because our patches change moto's model classes:
they only take effect in the interpreter that serves the requests.
"""

from __future__ import annotations

import errno
import logging
import threading
import urllib.request
from pathlib import Path
from typing import Any, Iterable

from werkzeug.serving import BaseWSGIServer, make_server

from localaws.extensions import Extension, default_extensions

log = logging.getLogger("localaws.server")
logging.getLogger("localaws").addHandler(logging.NullHandler())

HOST = "127.0.0.1"
HEALTH_PATH = "/_localaws/health"


class LocalAwsError(RuntimeError):
    """Local AWS could not start or answer; the message says why and what to do."""


class ExtensionMiddleware:
    """Ask each extension first; whatever none of them claims goes to moto."""

    def __init__(self, moto_app: Any, extensions: Iterable[Extension]):
        self.moto_app = moto_app
        self.extensions = list(extensions)
        # False while LocalAws seeds: `up` waits for ready so callers never see half an org.
        self.ready = True

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") == HEALTH_PATH:
            return self._health(start_response)
        for extension in self.extensions:
            if extension.matches(environ):
                return extension(environ, start_response)
        return self.moto_app(environ, start_response)

    def _health(self, start_response: Any) -> list[bytes]:
        # Lets `status` tell our server from anything else that happens to hold the port.
        import json
        import os

        body = json.dumps({"service": "localaws", "pid": os.getpid(),
                           "ready": self.ready}).encode()
        start_response("200 OK", [("Content-Type", "application/json"),
                                  ("Content-Length", str(len(body)))])
        return [body]


def _quiet_handler() -> type:
    # Imported late: moto.moto_server pulls in flask, which the package import should not pay for.
    from moto.moto_server.werkzeug_app import MotoRequestHandler

    class QuietRequestHandler(MotoRequestHandler):
        """Per-request lines go to the `localaws.server` logger, never to stdout/stderr."""

        def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002
            level = logging.WARNING if type == "error" else logging.DEBUG
            log.log(level, "%s %s", self.address_string(), message % args)

    return QuietRequestHandler


def build_app(extensions: Iterable[Extension] | None = None) -> ExtensionMiddleware:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return ExtensionMiddleware(DomainDispatcherApplication(create_backend_app),
                               default_extensions() if extensions is None else extensions)


class LocalAws:
    """Local AWS on 127.0.0.1 for as long as the context lasts.

    ``port=0`` takes a free port (tests); ``fleet_config`` (a path to a fleet config, or a SeedConfig) is seeded
    into the organization right after start. ``profile`` (a shipped name, a path, a dict or a
    loaded Profile; see ``localaws.behaviour``) applies from then on: seeding is never delayed,
    failed or throttled by it. No profile: the extension's own (the default: moto's behaviour).
    """

    def __init__(self, port: int = 0, fleet_config: Any = None,
                 extensions: Iterable[Extension] | None = None, host: str = HOST,
                 profile: Any = None):
        from localaws.behaviour.profile import load_profile

        # host: loopback unless a container must serve its neighbours (docker-compose's local-aws).
        self.host = host
        self.requested_port = port
        self.fleet_config = fleet_config
        self.extensions = extensions
        # Loaded now, so a bad profile fails before a port is taken (ProfileError).
        self.profile = None if profile is None else load_profile(profile)
        self._behaviour: Any = None
        self.accounts: dict[str, str] = {}
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise LocalAwsError("local AWS is not started")
        return self._server.server_port

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> "LocalAws":
        if self._server is not None:
            return self
        from localaws.patches import apply_all

        apply_all()
        app = build_app(self.extensions)
        app.ready = self.fleet_config is None
        self._behaviour = _behaviour_extension(app, self.profile)
        if self.profile is not None and self.fleet_config is None:
            self._behaviour.profile = self.profile
        in_use = LocalAwsError(
            f"port {self.requested_port} on {HOST} is already in use: stop whatever holds it "
            f"(`localaws status`) or choose another with --port")
        if self.requested_port and not port_free(self.requested_port):
            raise in_use
        try:
            self._server = make_server(self.host, self.requested_port, app,
                                       threaded=True, request_handler=_quiet_handler())
        except SystemExit as exc:
            # werkzeug answers EADDRINUSE with a message on stderr and sys.exit(1); a race
            # with another process taking the port after our check lands here.
            raise in_use from exc
        # werkzeug reports a failed request through the server's log, straight to stderr.
        self._server.log = lambda type, message, *args: log.warning(message, *args)  # type: ignore[method-assign]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name=f"localaws:{self.port}", daemon=True)
        self._thread.start()
        log.info("local AWS listening on %s", self.endpoint_url)
        if self.fleet_config is not None:
            try:
                self.seed(self.fleet_config)
            except BaseException:
                self.stop()
                raise
            if self.profile is not None:
                self._behaviour.profile = self.profile
            app.ready = True
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
        self._thread = None

    def seed(self, fleet: Any) -> dict[str, str]:
        """Create the fleet's organization, OUs, accounts and SCPs; returns name -> account id."""
        import contextlib

        from localaws.seed import load, seed_organization

        # Seeding sets the scene: no delays, failures or throttling of the profile meanwhile.
        paused = self._behaviour.paused() if self._behaviour is not None else contextlib.nullcontext()
        with paused:
            self.accounts = seed_organization(self.endpoint_url, load(fleet))
        return self.accounts

    def reset(self) -> None:
        """Forget every resource in every account (moto's reset); patches stay applied."""
        request = urllib.request.Request(f"{self.endpoint_url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10):
            pass

    def __enter__(self) -> "LocalAws":
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _behaviour_extension(app: ExtensionMiddleware, profile: Any) -> Any:
    """The app's behaviour-profile extension; one is put first when a profile needs it."""
    from localaws.behaviour import ProfileExtension

    found = next((e for e in app.extensions if isinstance(e, ProfileExtension)), None)
    if found is None and profile is not None:
        found = ProfileExtension()
        app.extensions.insert(0, found)
    return found


def port_free(port: int) -> bool:
    """True when nothing listens on HOST:`port` (so we can bind it)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # As the server itself binds: a port whose last connections linger in TIME_WAIT is free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def health(endpoint_url: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """What a local AWS at `endpoint_url` says about itself; None if nothing of ours answers."""
    import json

    try:
        with urllib.request.urlopen(f"{endpoint_url}{HEALTH_PATH}", timeout=timeout) as resp:
            data = json.loads(resp.read())
    except Exception:  # noqa: BLE001 - down, refusing, or not ours: all mean "no"
        return None
    return data if isinstance(data, dict) and data.get("service") == "localaws" else None


def wait_until_answers(endpoint_url: str, timeout: float = 15.0,
                       alive: Any = None) -> dict[str, Any] | None:
    """Poll until local AWS answers; gives up early when `alive()` says the process died."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = health(endpoint_url)
        if answer is not None and answer.get("ready"):
            return answer
        if alive is not None and not alive():
            return None
        time.sleep(0.1)
    return None


def serve_forever(port: int, fleet_config: Any = None, log_file: Path | None = None, host: str = HOST,
                  profile: Any = None) -> None:
    """Run local AWS in the foreground until SIGTERM/SIGINT (the daemon's child runs this)."""
    import signal

    if log_file is not None:
        handler = logging.FileHandler(log_file)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        root = logging.getLogger()
        root.addHandler(handler)
        root.setLevel(logging.INFO)
        logging.getLogger("localaws.server").setLevel(logging.DEBUG)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    with LocalAws(port=port, fleet_config=fleet_config, host=host, profile=profile):
        stop.wait()
