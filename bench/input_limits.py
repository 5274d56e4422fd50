"""What the input limits cost: the nesting scan and huge number literals, on 1 MiB bodies.

    .venv/bin/python bench/input_limits.py [--rounds 5]

For each body shape: its size, its nesting depth, the best of `rounds` timings of the
depth scan (app/core/json_depth.py), of json.loads on the same bytes, and of the whole
parse_json the app runs (scan, then parse with the float64 hooks, or a 400). Then
parse_json on number literals of growing length, to show the cost stays linear.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.core.decoding import parse_json
from app.core.errors import ApiError
from app.core.json_depth import nesting_depth

MiB = 1024 * 1024
ROW = "[5.1, 3.5, 1.4, 0.2]"


def shapes() -> dict[str, bytes]:
    bodies = {
        "batch of rows": '{"instances": [' + ", ".join([ROW] * (MiB // 22)) + "]}",
        "rows by name": '{"instances": ['
        + ", ".join(['{"sepal_length": 5.1, "petal_width": 0.2}'] * (MiB // 44))
        + "]}",
        "flat array of numbers": "[" + ",".join(["1"] * (MiB // 2 - 1)) + "]",
        "one long string": '"' + "a" * (MiB - 2) + '"',
        "escaped quotes": '["' + '\\"' * (MiB // 2 - 3) + '"]',
        "1 MiB of [": "[" * MiB,
        "[ then ] (balanced)": "[" * (MiB // 2) + "]" * (MiB // 2),
    }
    return {name: text.encode() for name, text in bodies.items()}


def best_ms(action: Callable[[], object], rounds: int) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings) * 1000


def outcome(action: Callable[[], object]) -> str:
    try:
        action()
    except RecursionError:
        return "RecursionError"
    except ApiError as error:
        return f"{error.status}"
    except ValueError:
        return "invalid"
    return "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    rounds = parser.parse_args().rounds

    header = ("body", "bytes", "depth", "scan", "json.loads", "parse_json")
    print("{:24s} {:>8s} {:>8s} {:>9s} {:>16s} {:>16s}".format(*header))
    for name, body in shapes().items():
        scan = best_ms(lambda body=body: nesting_depth(body), rounds)
        loads = outcome(lambda body=body: json.loads(body))
        if loads == "ok":
            loads = f"{best_ms(lambda body=body: json.loads(body), rounds):.1f} ms"
        parsed = outcome(lambda body=body: parse_json(body))
        parse_ms = best_ms(lambda body=body: outcome(lambda: parse_json(body)), rounds)
        print(
            f"{name:24s} {len(body):>8d} {nesting_depth(body):>8d} {scan:>6.1f} ms "
            f"{loads:>16s} {parse_ms:>7.1f} ms ({parsed})"
        )

    print(f"\n{'number literal':24s} {'digits':>8s} {'parse_json':>10s}")
    for digits in (62_500, 125_000, 250_000, 500_000, 1_000_000):
        for label, literal in (("integer", "9" * digits), ("fraction", "0." + "1" * digits)):
            body = f"[{literal}]".encode()
            took = best_ms(lambda body=body: parse_json(body), rounds)
            print(f"{label:24s} {digits:>8d} {took:>7.2f} ms")


if __name__ == "__main__":
    main()
