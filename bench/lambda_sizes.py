"""Cold start and request durations at Lambda's CPU share for each memory size, and their cost.

    python bench/lambda_sizes.py [--zip .serverless/model-prediction-api.zip] [--runs 5]
                                 [--sizes 512,1024,1769,3008] [--calls 200] [--model PATH]
                                 [--json out.json]

Lambda gives a function a share of one vCPU in proportion to its memory, one full vCPU at
1,769 MB. Each size's share is emulated with a cgroup v1 CFS quota: a group under
/sys/fs/cgroup/cpu with cpu.cfs_period_us 100000 and cpu.cfs_quota_us
round(MB * 100000 / 1769) (3,008 MB: 170,040 µs per 100,000, 1.7 CPUs; this process can
only ever use one), the measured process moved into it before it execs. That needs root
and a writable cgroup v1 cpu hierarchy; without them the sizes are skipped, with the
reason printed and written to the JSON as "skipped".

The sizes are 512, 1,024, 1,769 and 3,008 MB, and serverless.yml's provider.memorySize
when it is none of these; they take turns, round by round. Every run is one fresh
process, set up as bench/cold_start.py sets up its "bundle" variant: a bare python3.12
-I -S -B in a read-only copy of the unzipped bundle, the same environment (LAZY_IMPORTS
passed through when set here) and the same API Gateway event. In each run:

- cold start: from this process's clock just before the spawn to the moment it reads the
  line the child writes to its stdout pipe right after the first handler call returns:
  interpreter start, init and the first request, as a client would wait for them.
- init and first request, timed in the child with time.perf_counter: `import handler`
  (which builds the app and loads the model; Lambda's INIT phase), then the first
  handler.handler call.
- warm requests: --calls more handler calls in the same process, back to back, each
  billed on its own, as Lambda bills each invocation. Back to back, a call that finds
  the period's quota used up waits for the next period, which a median does not see but
  the p90 and the mean billed duration do. That is a busy container.
- spaced requests: --spaced more calls, each after a pause of one CFS period, so that
  every call starts with the quota full: a container that serves one request at a time,
  as most do when traffic is light.

Every answer must be the prediction the floor (bench/cold_start.py's bare
import-load-predict, run once untimed at full CPU first) gives, and the first request's
log line must say "cold_start": true.

Costs (prices in PRICES, below): a million warm requests at each size is
1e6 x (mean of ceil(each warm call's ms) x 1 ms x GB x price per GB-s + request price):
a size whose calls straddle a millisecond pays for the ones that cross it; the same for
the spaced calls. One cold
start ceil(init + first request ms) billed the same way, INIT being billed for zip
functions on managed runtimes since 1 August 2025. Only x86_64 is measured here; the
arm64 figures assume the same durations.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import stat
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cold_start import (
    DEFAULT_ZIP,
    ROOT,
    Served,
    bare_command,
    child_environment,
    floor_script,
    one_run,
    served_by,
    unzip,
)

# AWS Lambda on-demand prices, US East (N. Virginia), the first pricing tier (the first
# 6 billion GB-seconds a month on x86, 7.5 billion on Arm), free tier left out. The page
# fills in its rate table in the browser; these are the rates it publishes for that tier.
# The only place the bench keeps prices: the JSON carries them on to the report.
PRICES: dict[str, Any] = {
    "source": "https://aws.amazon.com/lambda/pricing/",
    "read": "2026-12-01",
    "region": "us-east-1",
    "per_gb_second": {"x86_64": 0.0000166667, "arm64": 0.0000133334},
    "per_request": 0.20 / 1_000_000,
}
ARCHITECTURES = ("x86_64", "arm64")

ONE_VCPU_MB = 1769  # Lambda: one full vCPU at 1,769 MB, in proportion below and above
PERIOD_US = 100_000
CPU_CGROUP = Path("/sys/fs/cgroup/cpu")
DEFAULT_SIZES = (512, 1024, 1769, 3008)
FIRST_ANSWER = "first answer"  # the line the child writes once its first call returned


def quota_us(memory_mb: int) -> int:
    return round(memory_mb * PERIOD_US / ONE_VCPU_MB)


def configured_memory_mb(serverless_yml: Path = ROOT / "serverless.yml") -> int | None:
    """provider.memorySize in serverless.yml, when it is a plain number; None otherwise."""
    provider = re.search(
        r"^provider:\n((?:[ \t]+.*\n|[ \t]*\n)*)", serverless_yml.read_text(), re.MULTILINE
    )
    if not provider:
        return None
    size = re.search(r"^  memorySize:[ \t]*(\d+)[ \t]*(?:#.*)?$", provider[1], re.MULTILINE)
    return int(size[1]) if size else None


def sizes_script(event: dict[str, Any], calls: int, spaced: int) -> str:
    """The measured process: init, the first request, `calls` warm ones back to back and
    `spaced` more one period apart; figures as JSON.

    Each call's log line goes to its own buffer, so that the answers, not the log, reach
    the pipe; the first call's line is kept to check it.
    """
    return f"""
import time
started = time.perf_counter()
import io, json, sys
sys.path.insert(0, ".")
import handler
init_s = time.perf_counter() - started
class Context:
    aws_request_id = "lambda-sizes"
event = {event!r}
pipe = sys.stdout
sys.stdout = io.StringIO()
begin = time.perf_counter()
answer = handler.handler(event, Context())
first_s = time.perf_counter() - begin
first_log = sys.stdout.getvalue()
pipe.write({FIRST_ANSWER!r} + "\\n")
pipe.flush()
warm_s, bodies = [], []
for _ in range({calls}):
    sys.stdout = io.StringIO()
    begin = time.perf_counter()
    reply = handler.handler(event, Context())
    warm_s.append(time.perf_counter() - begin)
    bodies.append(reply["body"])
spaced_s = []
for _ in range({spaced}):
    time.sleep({PERIOD_US / 1e6!r})
    sys.stdout = io.StringIO()
    begin = time.perf_counter()
    reply = handler.handler(event, Context())
    spaced_s.append(time.perf_counter() - begin)
    bodies.append(reply["body"])
sys.stdout = pipe
json.dump(
    {{"init_s": init_s, "first_s": first_s, "warm_s": warm_s, "spaced_s": spaced_s,
      "first_log": first_log, "first_body": answer["body"], "warm_bodies": bodies}},
    pipe,
)
"""


class CgroupUnavailable(Exception):
    """Why the CPU shares cannot be emulated on this machine."""


@contextlib.contextmanager
def cpu_groups(sizes: list[int]) -> Iterator[dict[int, Path]]:
    """One cgroup v1 cpu group per size, with that size's quota; removed on the way out.

    Yields each size's `tasks` file. Raises CgroupUnavailable, having removed what it
    made, when the groups cannot be made, limited or entered.
    """
    if not (CPU_CGROUP / "cpu.cfs_quota_us").is_file():
        raise CgroupUnavailable(
            f"no cgroup v1 cpu controller at {CPU_CGROUP} (cgroup v2 only, or not mounted)"
        )
    made: list[Path] = []
    try:
        for size in sizes:
            group = CPU_CGROUP / f"lambda-size-{os.getpid()}-{size}mb"
            try:
                group.mkdir()
            except OSError as error:
                root = "" if os.geteuid() == 0 else " (not running as root)"
                raise CgroupUnavailable(f"cannot create {group}: {error.strerror}{root}") from None
            made.append(group)
            try:
                (group / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                (group / "cpu.cfs_quota_us").write_text(f"{quota_us(size)}\n")
            except OSError as error:
                raise CgroupUnavailable(f"cannot set the quota in {group}: {error}") from None
            if int((group / "cpu.cfs_quota_us").read_text()) != quota_us(size):
                raise CgroupUnavailable(f"{group} did not keep quota {quota_us(size)}")
        tasks = {size: group / "tasks" for size, group in zip(sizes, made, strict=True)}
        try:
            subprocess.run(
                [sys.executable, "-c", ""], preexec_fn=enter(tasks[sizes[0]]), check=True
            )
        except (OSError, subprocess.SubprocessError) as error:
            raise CgroupUnavailable(
                f"cannot move a process into {tasks[sizes[0]]}: {error}"
            ) from None
        yield tasks
    finally:
        for group in reversed(made):
            with contextlib.suppress(OSError):
                group.rmdir()


def enter(tasks: Path) -> Any:
    """A preexec_fn: the child joins the group before it execs, so all of it is limited."""

    def join() -> None:
        tasks.write_text(f"{os.getpid()}\n")

    return join


def one_sized_run(folder: Path, script: str, served: Served, tasks: Path) -> dict[str, Any]:
    started = time.perf_counter()
    child = subprocess.Popen(
        bare_command(script),
        cwd=folder,
        env=child_environment(served),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=enter(tasks),
    )
    assert child.stdout is not None
    marker = child.stdout.readline()
    cold_s = time.perf_counter() - started
    rest, errors = child.communicate()
    if child.returncode or marker.strip() != FIRST_ANSWER:
        raise RuntimeError(f"run under {tasks.parent.name} failed:\n{marker}{rest}\n{errors}")
    return {"cold_s": cold_s, **json.loads(rest)}


def check(run: dict[str, Any], expected: str) -> None:
    """The first request is logged as the cold start; every answer is the floor's."""
    assert json.loads(run["first_log"].splitlines()[0])["cold_start"] is True, run["first_log"]
    for body in [run["first_body"], *run["warm_bodies"]]:
        assert str(json.loads(body)["prediction"]) == expected, (body, expected)


def billed_ms(seconds: float) -> int:
    """Lambda bills duration rounded up to the next millisecond."""
    return math.ceil(seconds * 1000)


def invocation_cost(milliseconds: float, memory_mb: int, architecture: str) -> float:
    """One invocation's charge: its billed duration at this memory size, and the request."""
    gb_seconds = milliseconds / 1000 * memory_mb / 1024
    return gb_seconds * PRICES["per_gb_second"][architecture] + PRICES["per_request"]


def summary(memory_mb: int, runs: list[dict[str, Any]]) -> dict[str, Any]:
    cold = [run["cold_s"] for run in runs]
    warm = [seconds for run in runs for seconds in run["warm_s"]]
    warm_median = statistics.median(warm)
    billed_warm = statistics.fmean(billed_ms(seconds) for seconds in warm)
    spaced = [seconds for run in runs for seconds in run["spaced_s"]]
    billed_spaced = statistics.fmean(billed_ms(seconds) for seconds in spaced)
    first = statistics.median(run["first_s"] for run in runs)
    init_and_first = statistics.median(run["init_s"] + run["first_s"] for run in runs)
    return {
        "memory_mb": memory_mb,
        "quota_us": quota_us(memory_mb),
        "cpu_share": quota_us(memory_mb) / PERIOD_US,
        "cold_start_s": {"median": statistics.median(cold), "min": min(cold), "max": max(cold)},
        "init_s": statistics.median(run["init_s"] for run in runs),
        "first_ms": first * 1000,
        "warm_median_ms": warm_median * 1000,
        "warm_p90_ms": statistics.quantiles(warm, n=10)[-1] * 1000,
        "first_x_warm": first / warm_median,
        "billed_warm_ms": billed_warm,
        "spaced_median_ms": statistics.median(spaced) * 1000,
        "billed_spaced_ms": billed_spaced,
        "billed_cold_ms": billed_ms(init_and_first),
        "cost_per_million_warm": {
            arch: 1e6 * invocation_cost(billed_warm, memory_mb, arch) for arch in ARCHITECTURES
        },
        "cost_per_million_spaced": {
            arch: 1e6 * invocation_cost(billed_spaced, memory_mb, arch) for arch in ARCHITECTURES
        },
        "cost_per_cold_start": {
            arch: invocation_cost(billed_ms(init_and_first), memory_mb, arch)
            for arch in ARCHITECTURES
        },
    }


def print_table(results: dict[str, Any]) -> None:
    print(
        f"at Lambda's CPU shares, {results['runs']} interleaved runs per size, "
        f"{results['calls']} warm calls each ({results['model']})"
    )
    print(
        f"{'MB':>5} {'CPU':>5} {'cold s':>7} {'min':>6} {'max':>6} {'init s':>7} "
        f"{'first ms':>9} {'warm ms':>8} {'p90 ms':>7} {'1st/warm':>9} "
        f"{'$/1M x86':>9} {'$/1M arm':>9} {'spaced ms':>10} {'$/1M x86 spaced':>16} "
        f"{'$/cold x86':>11} {'$/cold arm':>11}"
    )
    for size in results["sizes"]:
        cold, warm = size["cold_start_s"], size["cost_per_million_warm"]
        once = size["cost_per_cold_start"]
        print(
            f"{size['memory_mb']:>5} {size['cpu_share']:>5.0%} {cold['median']:>7.2f} "
            f"{cold['min']:>6.2f} {cold['max']:>6.2f} {size['init_s']:>7.2f} "
            f"{size['first_ms']:>9.1f} {size['warm_median_ms']:>8.2f} "
            f"{size['warm_p90_ms']:>7.2f} {size['first_x_warm']:>9.1f} "
            f"{warm['x86_64']:>9.3f} {warm['arm64']:>9.3f} "
            f"{size['spaced_median_ms']:>10.2f} {size['cost_per_million_spaced']['x86_64']:>16.3f} "
            f"{once['x86_64']:>11.7f} {once['arm64']:>11.7f}"
        )
    print(
        f"prices: {PRICES['region']}, x86 ${PRICES['per_gb_second']['x86_64']:.10f}/GB-s, "
        f"arm ${PRICES['per_gb_second']['arm64']:.10f}/GB-s, "
        f"${PRICES['per_request'] * 1e6:.2f} per million requests "
        f"({PRICES['source']}, read {PRICES['read']}); arm assumes x86's durations"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zip", type=Path, default=DEFAULT_ZIP)
    parser.add_argument("--runs", type=int, default=5, help="rounds; each runs every size once")
    configured = configured_memory_mb()
    defaults = list(DEFAULT_SIZES)
    if configured and configured not in defaults:
        defaults.append(configured)  # the deployed size, which the report compares
    parser.add_argument(
        "--sizes",
        default=",".join(map(str, defaults)),
        help="memory sizes in MB, comma-separated (default: %(default)s: four sizes and"
        " serverless.yml's provider.memorySize)",
    )
    parser.add_argument("--calls", type=int, default=200, help="warm calls after the first")
    parser.add_argument(
        "--spaced", type=int, default=20, help="warm calls after those, one period apart"
    )
    parser.add_argument(
        "--model", help="the artifact the bundle serves, as its modelUri (default: the bundled)"
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    if not args.zip.is_file():
        sys.exit(f"{args.zip} not found: run `make package` first")
    served = served_by(args.zip, args.model)
    results: dict[str, Any] = {
        "model": served.model,
        "runs": args.runs,
        "calls": args.calls,
        "spaced": args.spaced,
        "one_vcpu_mb": ONE_VCPU_MB,
        "period_us": PERIOD_US,
        "lazy_imports": os.environ.get("LAZY_IMPORTS"),
        "configured_memory_mb": configured,
        "prices": PRICES,
    }

    scratch = Path(tempfile.mkdtemp(prefix="lambda-sizes-"))
    try:
        with cpu_groups(sizes) as tasks:
            folder = unzip(args.zip, scratch / "bundle", keep_bytecode=True)
            script = sizes_script(served.event, args.calls, args.spaced)
            # Untimed at full CPU first: the floor's answer is the one every request must
            # get, and the page cache then holds the bundle for every size alike.
            floor = floor_script(served)
            expected = one_run(folder, floor, served, {})[1]
            runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
            for _ in range(args.runs):
                for size in sizes:
                    run = one_sized_run(folder, script, served, tasks[size])
                    check(run, expected)
                    runs[size].append(run)
    except CgroupUnavailable as reason:
        results["skipped"] = f"CPU shares not emulated: {reason}"
        print(f"lambda_sizes: skipping every size, {results['skipped']}", file=sys.stderr)
    finally:
        for path in [scratch, *scratch.rglob("*")]:
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
        shutil.rmtree(scratch)

    if "skipped" not in results:
        results["sizes"] = [summary(size, runs[size]) for size in sizes]
        results["runs_detail"] = {
            str(size): [
                {key: run[key] for key in ("cold_s", "init_s", "first_s")}
                | {"warm_median_s": statistics.median(run["warm_s"])}
                for run in runs[size]
            ]
            for size in sizes
        }
        print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
