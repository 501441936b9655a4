#!/usr/bin/env bash
# `make up`: the demo setup with the Airflow UI. Local AWS in the background (seeded from
# include/fleet.yaml), then `airflow standalone` (api-server with the UI on http://localhost:8080,
# scheduler, dag-processor, triggerer) with the same connection and approvers' keys as `make demo`,
# on a metadata DB of its own (.demo/airflow) that starts empty each time, as local AWS does. Ctrl-C (or SIGTERM) stops Airflow and its components; local AWS is stopped on the
# way out.
#
# Not `exec airflow standalone`: exec would drop the trap that stops local AWS. Airflow runs as a
# job of its own instead, and this script turns Ctrl-C/SIGTERM into a SIGINT to it, the one signal
# on which `airflow standalone` stops the components it started (on SIGTERM it dies and leaves
# its scheduler, api-server, dag-processor and triggerer running).
#
# Settings: FLEET_LOCAL_AWS_PORT (default 4566), FLEET_UI_PORT (default 8080), FLEET_UI_HOST (the
# address the UI listens on; default 127.0.0.1, this machine only).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
DEMO=$ROOT/.demo
AWS_PORT=${FLEET_LOCAL_AWS_PORT:-4566}
UI_PORT=${FLEET_UI_PORT:-8080}
UI_HOST=${FLEET_UI_HOST:-127.0.0.1}
export PATH="$BIN:$PATH"  # airflow standalone starts its components as `airflow ...` from PATH

if [ ! -x "$BIN/airflow" ] || [ ! -x "$BIN/fleet" ]; then
  echo "up: no virtualenv with Airflow at .venv; run \`make up\` (it installs first)" >&2
  exit 2
fi
if "$BIN/python" -c 'import socket, sys; s = socket.socket(); s.settimeout(0.5); sys.exit(s.connect_ex(("127.0.0.1", int(sys.argv[1]))) != 0)' "$UI_PORT"; then
  echo "up: port $UI_PORT is already in use (another Airflow?); stop it or set FLEET_UI_PORT" >&2
  exit 1
fi

# A key pair per approver (made once for this checkout in .demo/keys/, owner-only, never committed:
# .demo/ is ignored) and .demo/fleet-repo, the copy of include/ that lists their public keys; the
# DAG's trigger form offers that copy (FLEET_REPO). The pipeline itself holds no private key.
FLEET_REPO=$("$BIN/python" scripts/demo_keys.py)
export FLEET_REPO

AIRFLOW_PID=
cleanup() {
  trap - EXIT INT TERM
  stop_airflow
  "$BIN/localaws" down --state-dir "$DEMO/localaws" || true
}
stop_airflow() {
  if [ -n "$AIRFLOW_PID" ] && kill -0 "$AIRFLOW_PID" 2>/dev/null; then
    # SIGINT to standalone alone: it stops each component with SIGTERM. (SIGINT to the whole group
    # at once, as a terminal's Ctrl-C would, can leave the scheduler's LocalExecutor workers hung.)
    kill -INT "$AIRFLOW_PID" 2>/dev/null || true
    for _ in $(seq 1 150); do  # up to 30 s for the components to stop, then whatever is left is killed
      kill -0 "$AIRFLOW_PID" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL -- "-$AIRFLOW_PID" 2>/dev/null || true
  fi
  AIRFLOW_PID=
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Local AWS is its own package (localaws/) with its own command, installed by `make install`.
"$BIN/localaws" up --port "$AWS_PORT" --config include/fleet.yaml --state-dir "$DEMO/localaws"
ENDPOINT=http://127.0.0.1:$AWS_PORT

export AIRFLOW_HOME=$DEMO/airflow
export AIRFLOW__CORE__DAGS_FOLDER=$ROOT/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$ROOT/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__API__HOST=$UI_HOST
export AIRFLOW__API__PORT=$UI_PORT
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL=http://127.0.0.1:$UI_PORT/execution/
export AWS_EC2_METADATA_DISABLED=true
export AIRFLOW_CONN_AWS_DEFAULT="{\"conn_type\": \"aws\", \"login\": \"testing\", \"password\": \"testing\", \"extra\": {\"endpoint_url\": \"$ENDPOINT\", \"region_name\": \"us-east-1\"}}"

# Local AWS started fresh above, so Airflow's metadata starts fresh too: runs whose reports and
# stacks no longer exist, or a leftover fleet_vended_accounts asset event naming an account that is
# not in the new organization, would mislead (and schedule) the next run. The UI users' passwords
# live in a file beside the DB and survive. `make demo` has an Airflow home of its own.
"$BIN/airflow" db reset --yes > /dev/null
# The pools the DAGs use (README: "Pointing it at a real AWS organization").
"$BIN/airflow" pools set fleet_prod_rollout 1 "prod rollouts at once" > /dev/null
"$BIN/airflow" pools set fleet_account_ops 5 "account operations at once (Control Tower's default)" --include-deferred > /dev/null

# The UI users: admin, and one per approver in the fleet config (approval.approvers), so an approver
# logs in as themselves and decides in Required actions. Passwords are generated once into the
# owner-only file the simple auth manager (and standalone) reads, and printed when made.
PASSWORDS=$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$PASSWORDS
AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS=$("$BIN/python" -m fleet_airflow.ui_users --config include/fleet.yaml --passwords "$PASSWORDS")
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS

cat <<EOF
==> Airflow UI: http://localhost:$UI_PORT
    users: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS (name:role); passwords in $PASSWORDS
    (owner-only; each was printed above when it was made)
==> A pipeline run waits at prod.ui_approval: log in as an approver who did not trigger it, open
    Required actions, give a reason and Approve (or Reject). Operations: Browse > Fleet.
==> local AWS: $ENDPOINT, seeded from include/fleet.yaml
==> to decide from a terminal instead (a run triggered with approval_ui off):
    export AWS_ENDPOINT_URL=$ENDPOINT AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
    .venv/bin/fleet approvals
    .venv/bin/fleet approve RUN_ID --approver platform-lead --key .demo/keys/platform-lead --config .demo/fleet-repo/fleet.yaml
==> Ctrl-C stops Airflow and local AWS.
EOF

# Job control: Airflow gets a process group of its own, so whatever it leaves behind can be killed at once.
# SIGINT is set back to its default before Airflow starts: a shell started in the background (or
# from a script) ignores it, Airflow would inherit that, and `standalone` could then not be stopped.
set -m
"$BIN/python" -c 'import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); os.execv(sys.argv[1], sys.argv[1:])' \
  "$BIN/airflow" standalone &
AIRFLOW_PID=$!
set +m
status=0
wait "$AIRFLOW_PID" || status=$?
AIRFLOW_PID=
exit "$status"
