"""Per-resource behaviour state and its timeline, one per process (as moto's backends are).

Transitions (an account creation finishing, a stack completing or rolling back) are due at a time
fixed when the resource started, from the profile active then. They are applied lazily: every
request first runs ``advance(now)``, which applies every transition due by ``now`` in time order,
stamped with its own due time. Nothing can observe local AWS without a request, so this is
indistinguishable from timers, needs no thread, and lets tests drive time with a fake clock.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from typing import Any, Callable

log = logging.getLogger("localaws.behaviour")


class State:
    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._timeline: list[tuple[float, int, Callable[[float, float], None]]] = []
        self._seq = itertools.count()
        self.creations: dict[str, Any] = {}  # CreateAccount request id -> organizations.Creation
        self.young: dict[str, Any] = {}  # account id -> organizations.Young (role/regions not ready yet)
        self.jobs: dict[str, Any] = {}  # stack id -> cloudformation.StackJob still running
        self.generation = 0

    def clear(self) -> None:
        """Forget everything (moto's reset wiped the resources this state describes)."""
        with self.lock:
            self._timeline.clear()
            self.creations.clear()
            self.young.clear()
            self.jobs.clear()
            self.generation += 1

    def schedule(self, due: float, action: Callable[[float, float], None]) -> None:
        """Run ``action(due, now)`` at the first request at or after ``due``."""
        with self.lock:
            heapq.heappush(self._timeline, (due, next(self._seq), action))

    def advance(self, now: float) -> None:
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
