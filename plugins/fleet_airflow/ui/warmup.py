"""Read the Fleet page's snapshot when the API server starts, not on the first page load.

``FleetSnapshotWarmup`` is a root middleware of the API server (``fastapi_root_middlewares`` of the
plugin). It does nothing per request; Starlette builds the middleware stack once, at the server's
start-up (the lifespan event), and building it starts one background read of everything the Fleet
page shows. A cold read of a 1,000-account ledger takes seconds; with the snapshot read at start-up
the first visitor gets the page at once, like every later one (README, "Operator's guide").
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


def warm(view_factory=None) -> bool:
    """Read every part of the Fleet page into the API server's snapshot; never raises."""
    try:
        if view_factory is None:
            from fleet_airflow.ui.app import fleet_view as view_factory
        view = view_factory()
        view.accounts()
        view.latest_rollout()
        view.approvals()
        view.vending()
        view.drift()
        return True
    except Exception as exc:  # the page reads again when it is opened, and says what failed
        log.warning("Fleet page: the start-up read of the fleet failed (%s); the first page load reads it", exc)
        return False


class FleetSnapshotWarmup:
    def __init__(self, app, view_factory=None):
        self.app = app
        self.thread = threading.Thread(target=warm, args=(view_factory,), daemon=True, name="fleet-warmup")
        self.thread.start()

    async def __call__(self, scope, receive, send):
        await self.app(scope, receive, send)
