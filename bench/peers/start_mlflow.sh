#!/usr/bin/env bash
# Starts the MLflow peer in the foreground on 127.0.0.1:PORT (after setup.sh).
#     bash bench/peers/start_mlflow.sh PORT
# Ready when GET /ping answers 200. `mlflow models serve` runs, as its child,
# `uvicorn --workers 2 mlflow.pyfunc.scoring_server.app:app` (FastAPI; one supervisor and
# two worker processes, uvloop + httptools picked up automatically).
# Stop: SIGTERM to the process group (SIGTERM to this PID alone also works: mlflow sets
# PR_SET_PDEATHSIG on its uvicorn child). Takes about 2 s.
set -euo pipefail

PORT=${1:?usage: start_mlflow.sh PORT}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/bench/.venvs/mlflow
WORK=$ROOT/bench/.work/mlflow

# mlflow launches `uvicorn` by name through bash: the venv's bin must be on PATH.
export PATH=$VENV/bin:$PATH
# No usage reporting (there is no network), no per-request access log line.
export MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true
export UVICORN_ACCESS_LOG=false

cd "$WORK"
exec mlflow models serve -m "$WORK/iris" --env-manager local \
  --host 127.0.0.1 --port "$PORT" --workers 2
