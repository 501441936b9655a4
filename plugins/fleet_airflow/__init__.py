"""Airflow adapters (hooks, operators, sensors, triggers) over the fleet core."""
