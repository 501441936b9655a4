"""The behaviour-profile extension: local AWS with real AWS's asynchronous states and faults.

``ProfileExtension`` is the first extension asked about every request (see
``localaws.extensions.default_extensions``). It applies a ``localaws.behaviour.profile.Profile``:

- throttling (``throttling`` rules): the service's own throttling error, for a share of requests
  drawn with an RNG seeded by ``seed``, or beyond a token bucket's requests per second: Organizations ``TooManyRequestsException`` (HTTP 400, JSON); other JSON
  services ``ThrottlingException`` (400); query services (sts, iam, cloudformation, ...)
  ``Throttling`` (400, XML); S3 ``SlowDown`` (503); REST-JSON services ``ThrottlingException``
  (429). botocore's standard and adaptive retry modes classify all of them as throttling.
- Organizations account creation, a new account's role and regions: ``account_creation.py``.
- CloudFormation stack states, failures and rollbacks: ``stack_states.py``.

The service of a request is its SigV4 signing name; ``/_localaws/*`` and ``/moto-api/*`` are never
throttled or delayed. State that outlives a request lives in ``state.STATE`` (one per process, like
moto's backends), is advanced lazily at each request, and is forgotten by moto's reset (``state.py``).

Runtime control (tests): ``GET /_localaws/profile`` answers the active profile as JSON, plus
``stats``: what it did since it was set (requests seen, throttled, assume_role_denied,
region_refused, create_account_failed, stack_failed). ``PUT`` with a profile as a JSON object
replaces it (400 with the validation message if it is not valid; a ``stats`` key is ignored) and
restarts the counts; ``localaws.behaviour.set_profile`` / ``get_profile`` wrap both. Resources
already in flight keep their timing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import threading
import time
from collections import Counter
from typing import Any, Callable, Iterator

from localaws import request
from localaws.behaviour import account_creation, responses, stack_states
from localaws.behaviour.state import STATE, State
from localaws.behaviour.profile import CONTROL_PATH, Profile, ProfileError, load_profile

log = logging.getLogger("localaws.behaviour")
_PLAN = "localaws.behaviour.plan"
STATS = ("requests", "throttled", "assume_role_denied", "region_refused", "create_account_failed", "stack_failed")


class ProfileExtension:
    def __init__(self, profile: Any = None, clock: Callable[[], float] = time.time,
                 state: State | None = None, downstream: Any = None):
        """``clock`` returns epoch seconds (tests pass a fake one); ``state`` defaults to the
        process's; ``downstream`` is the WSGI app that does the work (moto's, built lazily)."""
        self.clock = clock
        self.state = state if state is not None else STATE
        self._generation = self.state.generation
        self._downstream = downstream
        self._rng_lock = threading.Lock()
        self._paused = 0
        self.stats: Counter[str] = Counter()
        self.profile = load_profile(profile)

    # -- the profile --------------------------------------------------------------------------
    @property
    def profile(self) -> Profile:
        return self._profile

    @profile.setter
    def profile(self, value: Any) -> None:
        profile = load_profile(value)
        with self._rng_lock:
            self._profile = profile
            self._rng = random.Random(profile.seed)
            self._buckets: dict[tuple, tuple[float, float]] = {}
            self.stats = Counter({name: 0 for name in STATS})
        log.info("behaviour profile %s (%s)", profile.name, profile.source)

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """Serve moto's behaviour meanwhile (LocalAws seeding the organization)."""
        self._paused += 1
        try:
            yield
        finally:
            self._paused -= 1

    @property
    def downstream(self) -> Any:
        if self._downstream is None:
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

            self._downstream = DomainDispatcherApplication(create_backend_app)
        return self._downstream

    # -- the extension protocol -------------------------------------------------------------------
    def matches(self, environ: dict[str, Any]) -> bool:
        path = environ.get("PATH_INFO", "")
        if path == CONTROL_PATH:
            environ[_PLAN] = lambda: self._control(environ)
            return True
        if path.startswith(("/moto-api/", "/_localaws/")):
            return False
        now = self.clock()
        self.state.advance(now)
        if self.state.generation != self._generation:
            # moto's reset cleared the state: replay the throttling decisions from the seed too.
            with self._rng_lock:
                self._generation = self.state.generation
                self._rng = random.Random(self._profile.seed)
                self._buckets = {}
        if self._paused:
            return False
        sig = request.signed(environ)
        if sig is None:
            return False
        self.count("requests")
        plan = self._plan(environ, sig, now, self._profile)
        if plan is None:
            return False
        environ[_PLAN] = plan
        return True

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        plan = environ.pop(_PLAN, None)
        response = plan() if plan is not None else responses.call(self.downstream, environ)
        return responses.send(response, start_response)

    def _plan(self, environ: dict[str, Any], sig: request.Signed, now: float, profile: Profile) -> Any:
        if profile.throttling:
            needs_operation = any(r.operations for r in profile.throttling if r.service == sig.service)
            operation = request.operation(environ) if needs_operation else None
            index, rule = next(((i, r) for i, r in enumerate(profile.throttling)
                                if r.matches(sig.service, operation)), (None, None))
            if rule is not None and self._throttles(index, rule, environ, sig, now):
                self.count("throttled")
                response = throttled(environ, sig)
                return lambda: response
        planned = account_creation.plan(self, environ, sig, now, profile)
        if planned is None and sig.service == "cloudformation":
            planned = stack_states.plan(self, environ, sig, now, profile)
        return planned

    def count(self, name: str) -> None:
        with self._rng_lock:
            self.stats[name] += 1

    def _throttles(self, index: int, rule: Any, environ: dict[str, Any], sig: request.Signed, now: float) -> bool:
        if rule.rate is not None:
            with self._rng_lock:
                return self._rng.random() < rule.rate
        # A token bucket per rule, account and region (AWS's API rate limits are per account and region).
        key = (index, request.account_of(environ, sig.access_key), sig.region)
        with self._rng_lock:
            tokens, last = self._buckets.get(key, (rule.burst, now))
            tokens = min(rule.burst, tokens + max(0.0, now - last) * rule.requests_per_second)
            allowed = tokens >= 1
            self._buckets[key] = (tokens - 1 if allowed else tokens, now)
        return not allowed

    # -- runtime control ------------------------------------------------------------------------
    def _control(self, environ: dict[str, Any]) -> responses.Response:
        method = environ.get("REQUEST_METHOD")
        if method == "GET":
            with self._rng_lock:
                stats = dict(self.stats)
            return _json(200, {**self._profile.to_dict(), "stats": stats})
        if method != "PUT":
            return _json(405, {"message": f"{CONTROL_PATH} answers GET and PUT"})
        display = f"PUT {CONTROL_PATH}"
        try:
            data = json.loads(request.peek_body(environ) or b"null")
            if not isinstance(data, dict):
                raise ValueError("the body must be a JSON object (a profile)")
            data.pop("stats", None)  # what GET answers can be PUT back
            new = load_profile(data, display=display)
        except ValueError as exc:  # ProfileError is a ValueError, so is bad JSON
            message = str(exc) if isinstance(exc, ProfileError) else f"{display}: {exc}"
            return _json(400, {"message": message})
        previous = self._profile
        self.profile = new
        return _json(200, {"previous": previous.to_dict(), "profile": new.to_dict()})


def _json(status: int, payload: Any) -> responses.Response:
    line = {200: "200 OK", 400: "400 Bad Request", 405: "405 Method Not Allowed"}[status]
    return line, [("Content-Type", "application/json")], json.dumps(payload).encode()


def throttled(environ: dict[str, Any], sig: request.Signed) -> responses.Response:
    """The service's throttling error, in its protocol (AWS API references, Common Errors)."""
    if sig.service == "organizations":
        return responses.error("json", 400, "TooManyRequestsException",
                          "You have sent too many requests in too short a period of time. The quota helps "
                          "protect against denial-of-service attacks. Try again later.")
    kind = request.protocol(environ, sig.service)
    if kind == "query":
        return responses.error(kind, 400, "Throttling", "Rate exceeded")
    if kind == "rest-xml":
        return responses.error(kind, 503, "SlowDown", "Please reduce your request rate.")
    return responses.error(kind, 400 if kind == "json" else 429, "ThrottlingException", "Rate exceeded")


