#!/usr/bin/env bash
# `make up`: the demo setup with the Airflow UI. Local AWS in the background, then `airflow
# standalone` (api-server with the UI on http://localhost:8080, scheduler, triggerer,
# dag-processor) on the same .demo/ metadata DB and connections as `make demo`.
# Ctrl-C stops Airflow; local AWS is stopped on the way out.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.venv/bin
export PATH="$PWD/$BIN:$PATH"  # airflow standalone starts its components by name
DEMO=$PWD/.demo
PORT=${FLEET_LOCAL_AWS_PORT:-4566}
mkdir -p "$DEMO"
if [ ! -s "$DEMO/approval.key" ]; then
  (umask 077 && "$BIN/python" -c 'import secrets; print(secrets.token_hex(32))' > "$DEMO/approval.key")
fi
KEY=$(cat "$DEMO/approval.key")

"$BIN/fleet" local-aws up --port "$PORT" --config include/fleet.yaml --state-dir "$DEMO/localaws"
trap '"$BIN/fleet" local-aws down --state-dir "$DEMO/localaws"' EXIT INT TERM

export AIRFLOW_HOME=$DEMO/airflow
export AIRFLOW__CORE__DAGS_FOLDER=$PWD/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$PWD/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW_CONN_AWS_DEFAULT="{\"conn_type\": \"aws\", \"login\": \"testing\", \"password\": \"testing\", \"extra\": {\"endpoint_url\": \"http://127.0.0.1:$PORT\", \"region_name\": \"us-east-1\"}}"
export AIRFLOW_CONN_FLEET_APPROVAL="{\"conn_type\": \"generic\", \"password\": \"$KEY\"}"
# For `fleet approve` / `fleet approvals` / `fleet report` from another terminal, export these too:
echo "In another terminal, to approve a waiting run:"
echo "  export AWS_ENDPOINT_URL=http://127.0.0.1:$PORT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1 FLEET_APPROVAL_KEY=\$(cat .demo/approval.key)"
echo "  .venv/bin/fleet approvals; .venv/bin/fleet approve RUN_ID --approver platform-lead"

"$BIN/airflow" db migrate > /dev/null
"$BIN/airflow" pools set fleet_prod_rollout 1 "prod rollouts at once" > /dev/null
"$BIN/airflow" standalone
