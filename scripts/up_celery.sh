#!/usr/bin/env bash
# `make up-celery`: the CeleryExecutor deployment (scheduler, dag-processor, triggerer, api-server, two
# Celery workers, local AWS) on this machine's PostgreSQL and Redis. The work is done by
# scripts/celery_stack.py, which the Celery test (tests/celery/) uses too; Ctrl-C or SIGTERM stops
# every process group it started. Settings: see the top of scripts/celery_stack.py.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/airflow ] || ! .venv/bin/python -c 'import airflow.providers.celery, psycopg, asyncpg, redis' 2>/dev/null; then
  echo "up-celery: no virtualenv with the Celery extra at .venv; run \`make up-celery\` (it installs first)" >&2
  exit 2
fi
exec .venv/bin/python scripts/celery_stack.py
