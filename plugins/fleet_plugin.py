"""The fleet's Airflow plugin: the operator extra links its tasks show.

The links are declared on the operators themselves (and on the TaskFlow tasks through
``fleet_airflow.links.attach``); at the end of a task the worker stores each link's URL, which the UI
shows. Registering them here lists them in ``airflow plugins``. They name no ``operators``: a
plugin link bound to an operator would replace the stored URL with a live lookup on the API server.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from fleet_airflow.links import ALL_LINKS


class FleetPlugin(AirflowPlugin):
    name = "fleet"
    operator_extra_links = list(ALL_LINKS)
