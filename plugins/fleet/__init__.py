"""fleet-pipeline core: plain Python, no Airflow imports."""
