"""The fleet's Airflow plugin: the Fleet page and the operator extra links its tasks show.

- ``fastapi_apps``: the Fleet page (``fleet_airflow.ui.app``), served by the API server at ``/fleet``
  behind Airflow's login: JSON under ``/fleet/api/...``, HTML at ``/fleet/`` and ``/fleet/runs/<run>``.
- ``fastapi_root_middlewares``: ``FleetSnapshotWarmup``, which reads the Fleet page's data when the
  API server starts, so the first page load is served from the snapshot too.
- ``external_views``: "Fleet" in the navigation, and "Fleet report" on every DAG run (the page says
  when a run has no fleet report, as runs of other DAGs do), both shown inside the Airflow UI.
- ``operator_extra_links``: declared on the operators themselves (and on the TaskFlow tasks through
  ``fleet_airflow.links.attach``); at the end of a task the worker stores each link's URL, which the
  UI shows. Registering them here lists them in ``airflow plugins``. They name no ``operators``: a
  plugin link bound to an operator would replace the stored URL with a live lookup on the API server.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from fleet_airflow.links import ALL_LINKS
from fleet_airflow.ui.app import PREFIX, app
from fleet_airflow.ui.warmup import FleetSnapshotWarmup

FLEET_ICON = ("data:image/svg+xml;utf8,<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 24 24' fill='none' "
              "stroke='currentColor' stroke-width='2'><rect x='3' y='3' width='7' height='7'/>"
              "<rect x='14' y='3' width='7' height='7'/><rect x='3' y='14' width='7' height='7'/>"
              "<rect x='14' y='14' width='7' height='7'/></svg>")


class FleetPlugin(AirflowPlugin):
    name = "fleet"
    operator_extra_links = list(ALL_LINKS)
    fastapi_apps = [{"app": app, "url_prefix": PREFIX, "name": "Fleet"}]
    fastapi_root_middlewares = [{"middleware": FleetSnapshotWarmup, "name": "Fleet snapshot at start-up"}]
    external_views = [
        {"name": "Fleet", "href": f"{PREFIX}/", "url_route": "fleet", "destination": "nav",
         "category": "browse", "icon": FLEET_ICON},
        {"name": "Fleet report", "href": f"{PREFIX}/runs/{{RUN_ID}}", "url_route": "fleet-run",
         "destination": "dag_run"},
    ]
