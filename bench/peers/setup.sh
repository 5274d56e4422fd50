#!/usr/bin/env bash
# Builds the peer servers for the throughput benchmark. Run from the repo root:
#     bash bench/peers/setup.sh
# Makes, each only when its inputs changed (a .stamp holds their sha256):
#   bench/.venvs/mlserver   from bench/peers/mlserver.txt
#   bench/.venvs/mlflow     from bench/peers/mlflow.txt
#   bench/.work/mlserver/   settings.json + iris/{model-settings.json,model.joblib}
#   bench/.work/mlflow/iris mlflow.sklearn.save_model(joblib.load(model/model.joblib))
# Both peers serve a copy of the same model/model.joblib. PYTHON overrides python3.12.
# MLServer settings: parallel_workers 0 (inference in the HTTP process; a worker pool adds
# IPC per request and measured ~20% slower with 1 or 2 workers), no metrics server,
# access log off (debug false), gzip off. gRPC cannot be turned off in MLServer 1.7:
# grpc_port 0 lets it take a free ephemeral port. http_port is set by start_mlserver.sh.
set -euo pipefail

PY=${PYTHON:-python3.12}
MODEL=model/model.joblib

if [[ ! -f $MODEL || ! -d bench/peers ]]; then
  echo "run from the repo root (no $MODEL or bench/peers here)" >&2
  exit 1
fi
if [[ $("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])') != 3.12 ]]; then
  echo "$PY is not Python 3.12" >&2
  exit 1
fi

sha() { cat "$@" | sha256sum | cut -d' ' -f1; }

build_venv() {
  local name=$1
  local req=bench/peers/$name.txt venv=bench/.venvs/$name
  local want
  want=$(sha "$req")-$("$PY" -V 2>&1 | tr ' ' _)
  if [[ -f $venv/.stamp && $(<"$venv/.stamp") == "$want" ]]; then
    echo "venv $name: up to date"
    return
  fi
  echo "venv $name: building from $req"
  local t0=$SECONDS
  rm -rf "$venv"
  "$PY" -m venv "$venv"
  # The file pins every package, so --no-deps installs exactly it; pip check proves it whole.
  "$venv/bin/pip" install --quiet --no-deps --require-virtualenv -r "$req"
  "$venv/bin/pip" check
  echo "$want" >"$venv/.stamp"
  echo "venv $name: done in $((SECONDS - t0)) s, $(du -sh "$venv" | cut -f1)"
}

prepare_mlserver() {
  local dir=bench/.work/mlserver
  mkdir -p "$dir/iris"
  cmp -s "$MODEL" "$dir/iris/model.joblib" || cp "$MODEL" "$dir/iris/model.joblib"
  cat >"$dir/iris/model-settings.json" <<'EOF'
{
  "name": "iris",
  "implementation": "mlserver_sklearn.SKLearnModel",
  "parameters": {"uri": "./model.joblib"}
}
EOF
  # http_port is rewritten by start_mlserver.sh PORT.
  cat >"$dir/settings.json" <<'EOF'
{
  "debug": false,
  "host": "127.0.0.1",
  "http_port": 8080,
  "grpc_port": 0,
  "metrics_endpoint": null,
  "parallel_workers": 0,
  "gzip_enabled": false
}
EOF
  echo "mlserver model folder: $dir"
}

prepare_mlflow() {
  local dir=bench/.work/mlflow
  local want
  want=$(sha "$MODEL" bench/peers/mlflow.txt)
  if [[ -f $dir/.stamp && $(<"$dir/.stamp") == "$want" && -f $dir/iris/MLmodel ]]; then
    echo "mlflow model folder: up to date"
    return
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  # save_model refuses an existing path; cwd is the work folder so nothing strays elsewhere.
  (cd "$dir" && MLFLOW_DISABLE_TELEMETRY=true DO_NOT_TRACK=true \
    ../../.venvs/mlflow/bin/python - ../../../"$MODEL" iris <<'EOF'
import sys

import joblib
import mlflow.sklearn

mlflow.sklearn.save_model(joblib.load(sys.argv[1]), sys.argv[2], serialization_format="pickle")
EOF
  )
  echo "$want" >"$dir/.stamp"
  echo "mlflow model folder: $dir/iris"
}

build_venv mlserver
build_venv mlflow
prepare_mlserver
prepare_mlflow
