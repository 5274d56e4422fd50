#!/usr/bin/env bash
# Starts the MLServer peer in the foreground on 127.0.0.1:PORT (after setup.sh).
#     bash bench/peers/start_mlserver.sh PORT
# Ready when GET /v2/models/iris/ready answers 200. One process (parallel_workers 0),
# plus a gRPC listener on an ephemeral port that MLServer 1.7 cannot switch off.
# Stop: SIGTERM to its process group; it drains in about a second.
# MLServer reads settings.json with no env override for the port, so it is written here:
# do not start two at once.
set -euo pipefail

PORT=${1:?usage: start_mlserver.sh PORT}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VENV=$ROOT/bench/.venvs/mlserver
WORK=$ROOT/bench/.work/mlserver

cd "$WORK"
"$VENV/bin/python" - "$PORT" <<'PY'
import json
import sys

with open("settings.json") as f:
    settings = json.load(f)
settings["http_port"] = int(sys.argv[1])
with open("settings.json", "w") as f:
    json.dump(settings, f, indent=2)
PY
exec "$VENV/bin/mlserver" start .
