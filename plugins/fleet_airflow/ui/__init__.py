"""The Fleet page: a FastAPI app the Airflow API server mounts at ``/fleet`` (``plugins/fleet_plugin.py``)."""
