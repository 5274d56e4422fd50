"""Throughput and memory of each server under the same load generator.

    python bench/throughput.py [--duration 10] [--rounds 2] [--json out.json]

Servers, all on 127.0.0.1, each from its own environment and serving the same artifact:
- ours:    the app under gunicorn (bench/gunicorn.conf.py)
- naive:   the tutorial-style app (bench/peers/naive_app.py) under the same gunicorn
- mlserver: MLServer with mlserver-sklearn, V2 inference protocol
- mlflow:  MLflow's scoring server (`mlflow models serve --env-manager local`)
- ours-mlflow, ours-v2: the same gunicorn process as ours, loaded on its MLflow route
  (/invocations, with the MLflow peer's wrk script: same path, same body) and its V2
  route (the MLServer peer's tensor body, our model's name in the path)

wrk sends single-row requests with keep-alive, at 8 and 32 connections, 10 s a run,
rounds interleaved. Memory is the RSS and PSS of each server's whole process tree,
idle (after one request) and after the load; for each of our gunicorn workers also
after its own 100th and 10,000th request (written by bench/gunicorn.conf.py).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PEERS = BENCH / "peers"
VENVS = BENCH / ".venvs"
CONCURRENCY = (8, 32)
WORKER_RSS = BENCH / ".work" / "worker-rss"


@dataclass
class Server:
    name: str
    command: list[str]
    cwd: Path
    url_path: str
    lua: Path
    env: dict[str, str] | None = None
    # Another route of the named server: its process is loaded, none is started.
    host: str | None = None
    process: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.url_path}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def servers() -> list[Server]:
    """Every server, each protocol of ours just before the peer it is compared with."""
    gunicorn = str(VENVS / "bench" / "bin" / "gunicorn")
    config = str(BENCH / "gunicorn.conf.py")
    return [
        Server(
            "ours",
            [gunicorn, "-c", config, "app.factory:create_app()"],
            ROOT,
            "/predict",
            PEERS / "wrk_naive.lua",
            env={"BENCH_WORKER_RSS_DIR": str(WORKER_RSS)},
        ),
        Server(
            "naive",
            [gunicorn, "-c", config, "naive_app:app"],
            PEERS,
            "/predict",
            PEERS / "wrk_naive.lua",
        ),
        Server(
            "ours-v2",
            [],
            ROOT,
            "/v2/models/iris-logistic-regression/infer",
            PEERS / "wrk_ours_v2.lua",
            host="ours",
        ),
        Server(
            "mlserver",
            ["bash", str(PEERS / "start_mlserver.sh")],
            ROOT,
            "/v2/models/iris/infer",
            PEERS / "wrk_mlserver.lua",
        ),
        Server("ours-mlflow", [], ROOT, "/invocations", PEERS / "wrk_mlflow.lua", host="ours"),
        Server(
            "mlflow",
            ["bash", str(PEERS / "start_mlflow.sh")],
            ROOT,
            "/invocations",
            PEERS / "wrk_mlflow.lua",
        ),
    ]


def start(server: Server, logs: Path) -> None:
    server.port = free_port()
    env = {**os.environ, **(server.env or {}), "PORT": str(server.port), "LOG_LEVEL": "WARNING"}
    command = [*server.command]
    if "gunicorn" in command[0]:
        command += ["--bind", f"127.0.0.1:{server.port}"]
    else:
        command.append(str(server.port))
    log = (logs / f"{server.name}.log").open("wb")
    server.process = subprocess.Popen(
        command,
        cwd=server.cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            sys.exit(f"{server.name} exited during start-up; see {log.name}")
        if _answers(server):
            return
        time.sleep(0.5)
    sys.exit(f"{server.name} did not start within 180 s")


def _answers(server: Server) -> bool:
    body = _lua_body(server.lua)
    request = urllib.request.Request(
        server.url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def _lua_body(lua: Path) -> str:
    match = re.search(r"wrk\.body\s*=\s*'([^']*)'", lua.read_text())
    assert match, f"no wrk.body in {lua}"
    return match.group(1)


def stop(server: Server) -> None:
    if server.process and server.process.poll() is None:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)


def tree(pid: int) -> list[int]:
    """pid and all its descendants."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    found = [pid]
    try:
        for child in children.read_text().split():
            found += tree(int(child))
    except OSError:
        pass
    return found


def memory(pid: int) -> dict[str, float]:
    rss = pss = 0
    for member in tree(pid):
        try:
            rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        except OSError:
            continue
        rss += int(re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1))
        pss += int(re.search(r"^Pss:\s+(\d+)", rollup, re.M).group(1))
    return {"rss_mb": rss / 1024, "pss_mb": pss / 1024, "processes": len(tree(pid))}


def worker_rss(pid: int) -> dict[str, float]:
    """RSS (MB) of each gunicorn worker, by pid: the children of the arbiter."""
    result = {}
    for member in tree(pid)[1:]:
        rollup = Path(f"/proc/{member}/smaps_rollup").read_text()
        result[str(member)] = int(re.search(r"^Rss:\s+(\d+)", rollup, re.M).group(1)) / 1024
    return result


def worker_marks(folder: Path, served: int) -> dict[str, float]:
    """RSS (MB) each worker wrote after its own `served`-th request, by pid."""
    return {
        path.name.split("-")[0]: int(path.read_text()) / 1024 for path in folder.glob(f"*-{served}")
    }


def warm_every_worker(server: Server, folder: Path, workers: int) -> None:
    """Load until every worker has served its own first 100 requests."""
    for _ in range(40):
        if len(worker_marks(folder, 100)) >= workers:
            return
        warm_up(server, 50)
    sys.exit(f"not every worker of {server.name} reached 100 requests")


def wrk(server: Server, connections: int, seconds: int) -> dict[str, float]:
    output = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "--latency",
            "-s",
            str(server.lua),
            server.url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {
        "connections": connections,
        "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _millis(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99_ms": _millis(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "requests": int(re.search(r"(\d+) requests in", output).group(1)),
        "errors": _errors(output),
    }


def _millis(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def _errors(output: str) -> int:
    errors = 0
    match = re.search(r"non-2xx: (\d+)", output)
    errors += int(match.group(1)) if match else 0
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return errors


def warm_up(server: Server, requests: int) -> None:
    """Send `requests` requests over 8 connections at once, so every worker gets some."""
    body = _lua_body(server.lua).encode()

    def one(_: int) -> None:
        request = urllib.request.Request(
            server.url, data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(one, range(requests)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="server names to run")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    logs = BENCH / ".work" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(WORKER_RSS, ignore_errors=True)
    WORKER_RSS.mkdir(parents=True)

    every = {s.name: s for s in servers()}
    chosen = [s for s in every.values() if not args.only or s.name in args.only]
    # A route of ours needs that server's process, whether or not it is load-tested too.
    needed = {s.host or s.name for s in chosen}
    started = [s for s in every.values() if s.host is None and s.name in needed]
    results: dict[str, dict] = {s.name: {"runs": []} for s in chosen}
    try:
        for server in started:
            start(server, logs)
            if server.name in results:
                results[server.name]["idle"] = memory(server.process.pid)
            if server.name == "ours":
                warm_every_worker(server, WORKER_RSS, len(tree(server.process.pid)) - 1)
        for server in chosen:
            if server.host:
                host = every[server.host]
                server.port, server.process = host.port, host.process
                if not _answers(server):
                    sys.exit(f"{server.name}: {server.url} does not answer 200")
                results[server.name]["shares_process_with"] = server.host
        for round_number in range(args.rounds):
            for connections in CONCURRENCY:
                for server in chosen:
                    run = wrk(server, connections, args.duration)
                    run["round"] = round_number + 1
                    results[server.name]["runs"].append(run)
                    print(
                        f"{server.name:<11} c={connections:<3} {run['requests_per_s']:>8.0f} req/s"
                        f"  p50 {run['p50_ms']:6.2f} ms  p99 {run['p99_ms']:6.2f} ms"
                        f"  errors {run['errors']}",
                        flush=True,
                    )
        for server in started:
            if server.name not in results:
                continue
            results[server.name]["after_load"] = memory(server.process.pid)
            # Every route's requests, as the process's memory has served them all.
            results[server.name]["requests_served"] = sum(
                run["requests"]
                for other in chosen
                if (other.host or other.name) == server.name
                for run in results[other.name]["runs"]
            )
        if "ours" in results:
            results["ours"]["workers_mb"] = {
                "after_own_100": worker_marks(WORKER_RSS, 100),
                "after_own_10000": worker_marks(WORKER_RSS, 10_000),
                "after_load": worker_rss(results_pid(chosen, "ours")),
            }
    finally:
        for server in started:
            stop(server)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


def results_pid(chosen: list[Server], name: str) -> int:
    return next(s.process.pid for s in chosen if s.name == name)


if __name__ == "__main__":
    main()
