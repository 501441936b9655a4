"""Per-resource behaviour state and its timeline, one per process (as moto's backends are).

Transitions (an account creation finishing, a stack completing or rolling back) are due at a time
fixed when the resource started, from the profile active then. They are applied lazily: every
request first runs ``advance(now)``, which applies every transition due by ``now`` in time order,
stamped with its own due time. Nothing can observe local AWS without a request, so this is
indistinguishable from timers, needs no thread, and lets tests drive time with a fake clock.

The state describes moto's resources, so it goes with them: every State is cleared by moto's own
reset (``POST /moto-api/reset``, or a reset in the process), through a backend registered in a
moto ``BackendDict`` like any service's (``_ResetHook``), not by watching requests for the reset.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import weakref
from typing import Any, Callable

from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.base_backend import BackendDict, BaseBackend

log = logging.getLogger("localaws.behaviour")
_STATES: "weakref.WeakSet[State]" = weakref.WeakSet()
RESET_LOCK_TIMEOUT = 2.0


class _ResetHook(BaseBackend):
    """moto's reset (``BackendDict.reset``) resets every backend it holds: this one forgets every
    behaviour State with it. moto then empties its BackendDicts, so the hook is registered again
    by the next request (``State.advance``), before it can change any state."""

    def reset(self) -> None:
        for state in list(_STATES):
            state.clear()
        super().reset()


_hooks: BackendDict[_ResetHook] = BackendDict(_ResetHook, "localaws-behaviour", use_boto3_regions=False,
                                              additional_regions=["aws"])


def _hook() -> None:
    if DEFAULT_ACCOUNT_ID not in _hooks:  # cheap: the lookup below takes moto's backend lock
        _hooks[DEFAULT_ACCOUNT_ID]["aws"]


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._timeline: list[tuple[float, int, Callable[[float, float], None]]] = []
        self._seq = itertools.count()
        self.creations: dict[str, Any] = {}  # CreateAccount request id -> account_creation.Creation
        self.young: dict[str, Any] = {}  # account id -> account_creation.Young (role/regions not ready yet)
        self.jobs: dict[str, Any] = {}  # stack id -> stack_states.StackJob still running
        self.generation = 0  # how many resets this state has seen
        _STATES.add(self)

    def clear(self) -> None:
        """Forget everything (moto's reset wiped the resources this state describes)."""
        # Called under moto's backend lock: a transition holding our lock may be waiting for that
        # one, so wait a bounded time rather than forever, then clear regardless.
        locked = self.lock.acquire(timeout=RESET_LOCK_TIMEOUT)
        try:
            self._timeline.clear()
            self.creations.clear()
            self.young.clear()
            self.jobs.clear()
            self.generation += 1
        finally:
            if locked:
                self.lock.release()

    def schedule(self, due: float, action: Callable[[float, float], None]) -> None:
        """Run ``action(due, now)`` at the first request at or after ``due``."""
        with self.lock:
            heapq.heappush(self._timeline, (due, next(self._seq), action))

    def advance(self, now: float) -> None:
        _hook()
        try:
            if not self._timeline or self._timeline[0][0] > now:
                return  # the common case, without the lock
        except IndexError:
            return
        with self.lock:
            while self._timeline and self._timeline[0][0] <= now:
                due, _, action = heapq.heappop(self._timeline)
                try:
                    action(due, now)
                except Exception:  # noqa: BLE001 - one broken transition must not stop the others
                    log.exception("behaviour transition due at %s failed", due)


STATE = State()
