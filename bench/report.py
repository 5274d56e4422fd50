"""Turn the figures of one bench run into bench/REPORT.md and its charts.

    python bench/report.py RESULTS_DIR

RESULTS_DIR holds warm.json, batch.json, protocols.json, profile.json, cold_start.json,
cold_start_churn.json, lambda_sizes.json, throughput.json, size.json, size_churn.json,
adversarial.json and capture.json, written by the other scripts in the same `make bench`
run (the *_churn files for the pandas bundle serving model/examples/churn.joblib). A
lambda_sizes.json that says "skipped" (no cgroup to emulate Lambda's CPU shares with),
or none at all, leaves its section and headline rows saying so; without adversarial.json
its headline row says so and its section is left out, and so is capture's without
capture.json.
"""

from __future__ import annotations

import json
import platform
import statistics
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from lambda_sizes import configured_memory_mb

BENCH = Path(__file__).resolve().parent
MB = 1_000_000


def share_table(label: str, rows: list[str], results: dict[str, Any]) -> list[str]:
    """A markdown table: one row per layer or part, one column per profiled side."""
    names = list(results)
    return [
        f"| {label} | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        *[
            f"| {row} | "
            + " | ".join(f"{results[n]['shares'].get(row, 0.0):.1%}" for n in names)
            + " |"
            for row in rows
        ],
    ]


def load(folder: Path, name: str) -> Any:
    return json.loads((folder / f"{name}.json").read_text())


def verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


# Ours against the naive apps (bench/peers), case by case: p50 in process, and
# requests per second under gunicorn. Every check on, the request line written.
REQUEST_PATH_GOALS = (
    ("iris_1", "iris, 1 row, p50 vs naive app", 1.0),
    ("iris_1000", "iris, 1,000 rows, p50 vs naive app", 0.8),
    ("churn_1", "churn (DataFrame model), 1 row, p50 vs naive pandas app", 1.0),
    ("churn_1000", "churn, 1,000 rows, p50 vs naive pandas app", 0.9),
)
THROUGHPUT_GOAL = 1.0


def headline_row(what: str, figure: str, reference: str, ratio: float, goal: str, ok: bool) -> str:
    return f"| {what} | {figure} | {reference} | {ratio:.2f}x | {goal} | {verdict(ok)} |"


def unmeasured_row(what: str, why: str, goal: str) -> str:
    return f"| {what} | {why} | | | {goal} | |"


def throughput_summary(throughput: dict[str, Any]) -> dict[str, dict[int, dict[str, float]]]:
    """Per server and concurrency: the median over rounds of req/s, p50, p99; errors summed."""
    summary: dict[str, dict[int, dict[str, float]]] = {}
    for name, data in throughput.items():
        by_c: dict[int, list[dict[str, float]]] = {}
        for run in data["runs"]:
            by_c.setdefault(run["connections"], []).append(run)
        summary[name] = {
            c: {
                "requests_per_s": statistics.median(r["requests_per_s"] for r in runs),
                "p50_ms": statistics.median(r["p50_ms"] for r in runs),
                "p99_ms": statistics.median(r["p99_ms"] for r in runs),
                "errors": sum(r["errors"] for r in runs),
            }
            for c, runs in sorted(by_c.items())
        }
    return summary


def chart_throughput(summary: dict[str, dict[int, dict[str, float]]], path: Path) -> None:
    names = list(summary)
    levels = sorted({c for per in summary.values() for c in per})
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    width = 0.8 / len(levels)
    for index, c in enumerate(levels):
        xs = [i + index * width for i in range(len(names))]
        left.bar(xs, [summary[n][c]["requests_per_s"] for n in names], width, label=f"{c} conn.")
        right.bar(xs, [summary[n][c]["p99_ms"] for n in names], width, label=f"{c} conn.")
    for axis, title in (
        (left, "requests per second (higher is better)"),
        (right, "p99 latency, ms (lower is better)"),
    ):
        axis.set_xticks([i + width * (len(levels) - 1) / 2 for i in range(len(names))], names)
        axis.set_title(title)
        axis.legend()
    figure.suptitle("Single-row requests under wrk, 2-core machine")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def chart_latency(warm: dict[str, Any], colds: dict[str, dict[str, Any]], path: Path) -> None:
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    names = list(warm)
    left.bar(names, [warm[n]["p50_us"] for n in names], label="p50")
    left.bar(
        names,
        [warm[n]["p99_us"] - warm[n]["p50_us"] for n in names],
        bottom=[warm[n]["p50_us"] for n in names],
        alpha=0.4,
        label="p99",
    )
    left.set_title("warm request in process, µs")
    left.legend()
    variants = list(next(iter(colds.values()))["medians"])
    width = 0.8 / len(colds)
    for index, (bundle, cold) in enumerate(colds.items()):
        xs = [i + index * width for i in range(len(variants))]
        right.bar(xs, [cold["medians"][v] for v in variants], width, label=bundle)
    right.set_xticks(
        [i + width * (len(colds) - 1) / 2 for i in range(len(variants))],
        [v.replace(", ", ",\n") for v in variants],
    )
    right.set_title("cold start to first answer, s (median)")
    right.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def profile_section(profile: dict[str, Any]) -> list[str]:
    """Where the time goes, by layer, from bench/profiles.py."""
    lines = []
    for key, title, unit in (
        ("in_process", "in process, pyinstrument", "profiled time"),
        ("under_load", "gunicorn workers under wrk, py-spy", "CPU samples"),
    ):
        results = profile[key]
        layers = list(dict.fromkeys(layer for r in results.values() for layer in r["shares"]))
        lines += [
            f"Where the time goes, {title}: share of {unit} by layer.",
            "",
            *share_table("layer", layers, results),
            "",
        ]
    return lines


def batch_section(batch: dict[str, Any]) -> list[str]:
    """Batches and mixed-type rows, from bench/batch.py."""
    cases = {key: value for key, value in batch.items() if "variants" in value}
    calls = next(iter(cases.values()))["variants"]["ours"]["calls"]
    lines = [
        "## One row, batches and mixed-type rows against the naive apps, in process",
        "",
        f"Interleaved rounds, {calls:,} calls per variant and case after warm-up; the same",
        "API Gateway event through our handler and through the naive app (iris:",
        "bench/peers/naive_app.py; churn: bench/peers/naive_pandas_app.py, `pd.DataFrame(rows)`).",
        "Model only: predict on the input already built, for scale.",
        "",
        "| case | variant | p50 µs | p90 µs | ours / naive p50 | ours / naive p90 |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases.values():
        for name, figures in case["variants"].items():
            ratios = (
                f"{case['x_naive_p50']:.2f}x | {case['x_naive_p90']:.2f}x"
                if name == "ours"
                else " | "
            )
            lines.append(
                f"| {case['label']} | {name} | {figures['p50_us']:.0f} | "
                f"{figures['p90_us']:.0f} | {ratios} |"
            )
    stages = batch.get("stages_p50_us")
    if stages:
        names = list(stages)
        steps = list(dict.fromkeys(step for per in stages.values() for step in per))
        lines += [
            "",
            "Each step of a 1,000-row request called on its own, p50 µs (interleaved likewise):",
            "",
            "| step | " + " | ".join(cases[n]["label"] for n in names) + " |",
            "|---|" + "---|" * len(names),
            *[
                f"| {step} | "
                + " | ".join(f"{stages[n][step]:,.0f}" if step in stages[n] else "" for n in names)
                + " |"
                for step in steps
            ],
        ]
    profiles = batch.get("profile_churn_1000")
    if profiles:
        names = list(profiles)
        parts = list(dict.fromkeys(p for r in profiles.values() for p in r["shares"]))
        lines += [
            "",
            "Where the 1,000-row churn request's time goes, pyinstrument (1 ms sampling, its",
            f"timing thread, {profiles[names[0]]['calls']} calls each): share of profiled time by",
            "part. numpy and pandas count for the part that called them, pandas under our",
            "conversion or the naive app as building the DataFrame. The profiler slows code made",
            "of many small Python calls most, so the parse's share is overstated; the steps",
            "above give the times.",
            "",
            *share_table("part", parts, profiles),
        ]
    return [*lines, ""]


# Each of our protocol routes under wrk (bench/throughput.py) and the peer serving it.
PROTOCOL_PEERS = (
    ("ours-mlflow", "mlflow", "ours `/invocations` vs MLflow"),
    ("ours-v2", "mlserver", "ours V2 infer vs MLServer"),
)


def protocols_section(
    protocols: dict[str, Any], summary: dict[str, dict[int, dict[str, float]]]
) -> list[str]:
    """Our MLflow and V2 routes: in process against /predict, under wrk against the peers."""
    goal = protocols["goal_x_predict_p50"]
    cases = protocols["cases"]
    calls = next(iter(cases.values()))["routes"]["/predict"]["calls"]
    lines = [
        "## Protocols: MLflow scoring and Open Inference Protocol V2",
        "",
        "In process (bench/protocols.py): the same iris rows sent three ways, `instances` to",
        "`/predict`, MLflow's `dataframe_split` to `/invocations` and one FP64 tensor to",
        f"`/v2/models/{protocols['model']}/infer`, each an API Gateway REST event through",
        f"handler.handler; interleaved rounds, {calls:,} calls per route and case after",
        f"warm-up. Goal: each route's p50 within {goal - 1:.0%} of `/predict`'s.",
        "",
        "| case | route | p50 µs | p90 µs | x /predict p50 | x /predict p90 | goal | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for case in cases.values():
        for name, route in case["routes"].items():
            ratio = route["x_predict_p50"]
            judged = " | " if name == "/predict" else f"≤ {goal:.2f}x | {verdict(ratio <= goal)}"
            lines.append(
                f"| {case['label']} | `{route['path']}` | {route['p50_us']:,.0f} | "
                f"{route['p90_us']:,.0f} | {ratio:.2f}x | {route['x_predict_p90']:.2f}x | "
                f"{judged} |"
            )
    pairs = [pair for pair in PROTOCOL_PEERS if pair[0] in summary and pair[1] in summary]
    if pairs:
        lines += [
            "",
            "Under wrk (bench/throughput.py, as in Throughput below): ours is the same gunicorn",
            "process as for `/predict`, loaded on each protocol route with the peer's own",
            "single-row body (for V2, MLServer's tensor with our model's name in the path).",
            "Medians over rounds.",
            "",
            "| pair | connections | ours req/s | peer req/s | ours / peer | ours p50 / p99 ms"
            " | peer p50 / p99 ms | errors, ours / peer |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for ours_name, peer, pair in pairs:
            for c, ours in summary[ours_name].items():
                other = summary[peer][c]
                lines.append(
                    f"| {pair} | {c} | {ours['requests_per_s']:,.0f} | "
                    f"{other['requests_per_s']:,.0f} | "
                    f"{ours['requests_per_s'] / other['requests_per_s']:.2f}x | "
                    f"{ours['p50_ms']:.2f} / {ours['p99_ms']:.2f} | "
                    f"{other['p50_ms']:.2f} / {other['p99_ms']:.2f} | "
                    f"{ours['errors']} / {other['errors']} |"
                )
    return [*lines, ""]


def capture_section(folder: Path) -> list[str]:
    """What capture, input health and a shadow cost a request (bench/capture.py), if
    measured."""
    if not (folder / "capture.json").is_file():
        return []
    capture = load(folder, "capture")
    lines = [
        "## Capture, input health and a shadow model: their cost per request",
        "",
        "bench/capture.py: /predict with neither, with every request captured, with one",
        "feature hashed as well, with the model's reference statistics (input health counted",
        "per request), with both, and with a shadow model answering every request (iris: a",
        "copy of the live model; churn: the retrained example); each an API Gateway event",
        "through serverless-wsgi into an app built with that setting; interleaved rounds. At",
        "a capture or shadow sample rate r, a request costs r times that difference on average.",
        "",
        "| case | variant | p50 µs | p90 µs | x neither p50 |",
        "|---|---|---|---|---|",
    ]
    for case, variants in capture.items():
        for name, row in variants.items():
            lines.append(
                f"| {case} | {name} | {row['p50_us']:,.0f} | {row['p90_us']:,.0f} | "
                f"{row['x_neither_p50']:.2f}x |"
            )
    return [*lines, ""]


def cold_table(cold: dict[str, Any]) -> list[str]:
    return [
        "| variant | median s | min s | max s | x floor |",
        "|---|---|---|---|---|",
        *[
            f"| {v} | {cold['medians'][v]:.3f} | {min(cold['runs_s'][v]):.3f} | "
            f"{max(cold['runs_s'][v]):.3f} | {cold['medians'][v] / cold['medians']['floor']:.2f} |"
            for v in cold["medians"]
        ],
    ]


def load_sizes(folder: Path) -> dict[str, Any]:
    """lambda_sizes.json; a missing file reads as a skipped run, naming the file."""
    path = folder / "lambda_sizes.json"
    if not path.is_file():
        return {"skipped": f"no {path.name} in {folder}"}
    sizes: dict[str, Any] = json.loads(path.read_text())
    return sizes


def by_memory(sizes: dict[str, Any]) -> dict[int, dict[str, Any]]:
    return {size["memory_mb"]: size for size in sizes.get("sizes", [])}


def memory_size_headline(sizes: dict[str, Any], cold: dict[str, Any]) -> list[str]:
    """The headline rows from the memory-size run (the bundle against its floor at full
    CPU is the cold start row, from cold_start.json)."""
    lines: list[str] = []
    goals = {
        "cold start at the 1,024 MB share": "≤ 2.0 s",
        "first answer after init ÷ warm answer, 1,769 MB share (full CPU)": "≤ 2x",
        "cost per million warm requests, chosen size vs 1,024 MB": (
            "≤ 1.0x unless the table says why"
        ),
    }
    if "skipped" in sizes:
        return lines + [
            unmeasured_row(w, f"skipped: {sizes['skipped']}", g) for w, g in goals.items()
        ]
    measured = by_memory(sizes)
    (cold_what, cold_goal), (first_what, first_goal), (cost_what, cost_goal) = goals.items()
    if 1024 in measured and 1769 in measured:
        at_1024, at_1769 = measured[1024]["cold_start_s"], measured[1769]["cold_start_s"]
        lines.append(
            headline_row(
                cold_what,
                f"{at_1024['median']:.2f} s (min {at_1024['min']:.2f}, max {at_1024['max']:.2f})",
                f"1,769 MB share {at_1769['median']:.2f} s",
                at_1024["median"] / at_1769["median"],
                cold_goal,
                at_1024["median"] <= 2.0,
            )
        )
    else:
        lines.append(unmeasured_row(cold_what, "not measured: needs 1,024 and 1,769 MB", cold_goal))
    if 1769 in measured:
        full = measured[1769]
        lines.append(
            headline_row(
                first_what,
                f"first {full['first_ms']:.1f} ms",
                f"warm median {full['warm_median_ms']:.2f} ms",
                full["first_x_warm"],
                first_goal,
                full["first_x_warm"] <= 2,
            )
        )
    else:
        lines.append(unmeasured_row(first_what, "not measured: no 1,769 MB run", first_goal))
    chosen = configured_memory_mb()
    if chosen is None:
        why = "serverless.yml's provider.memorySize is not a plain number"
        lines.append(unmeasured_row(cost_what, why, cost_goal))
    elif chosen not in measured or 1024 not in measured:
        why = f"not measured: needs {chosen:,} and 1,024 MB"
        lines.append(unmeasured_row(cost_what, why, cost_goal))
    else:
        # Both ways requests come: back to back (a busy container) and one at a time.
        patterns = ("cost_per_million_warm", "cost_per_million_spaced")
        ours = [measured[chosen][pattern]["x86_64"] for pattern in patterns]
        base = [measured[1024][pattern]["x86_64"] for pattern in patterns]
        ratio = max(o / b for o, b in zip(ours, base, strict=True))
        lines.append(
            headline_row(
                cost_what,
                f"${ours[0]:.3f} busy, ${ours[1]:.3f} one at a time, at {chosen:,} MB (x86_64)",
                f"1,024 MB ${base[0]:.3f}, ${base[1]:.3f}",
                ratio,
                cost_goal,
                ratio <= 1.0,
            )
        )
    return lines


def chart_memory_sizes(sizes: dict[str, Any], path: Path) -> None:
    rows = sorted(sizes["sizes"], key=lambda size: size["memory_mb"])
    memory = [size["memory_mb"] for size in rows]
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    medians = [size["cold_start_s"]["median"] for size in rows]
    left.errorbar(
        memory,
        medians,
        yerr=[
            [m - size["cold_start_s"]["min"] for m, size in zip(medians, rows, strict=True)],
            [size["cold_start_s"]["max"] - m for m, size in zip(medians, rows, strict=True)],
        ],
        marker="o",
        capsize=4,
        label="cold start, s (median, min to max)",
    )
    left.set_xlabel("memory, MB")
    left.set_ylabel("cold start, s")
    left.set_ylim(0, max(size["cold_start_s"]["max"] for size in rows) * 1.4)
    warm = left.twinx()
    warm.plot(
        memory,
        [size["warm_median_ms"] for size in rows],
        marker="s",
        color="tab:orange",
        label="warm request, ms (median)",
    )
    warm.set_ylabel("warm request, ms")
    warm.set_ylim(0, max(size["warm_median_ms"] for size in rows) * 1.4)
    handles = left.get_legend_handles_labels()[0] + warm.get_legend_handles_labels()[0]
    left.legend(handles, [h.get_label() for h in handles], loc="upper right")
    left.set_title("cold start and warm request")
    for arch, marker in (("x86_64", "o"), ("arm64", "^")):
        right.plot(
            memory,
            [size["cost_per_million_warm"][arch] for size in rows],
            marker=marker,
            label=f"{arch}, busy" if arch == "x86_64" else f"{arch}, busy (x86 durations)",
        )
    right.plot(
        memory,
        [size["cost_per_million_spaced"]["x86_64"] for size in rows],
        marker="s",
        linestyle="--",
        label="x86_64, one request at a time",
    )
    right.set_xlabel("memory, MB")
    right.set_ylabel("USD")
    right.set_ylim(bottom=0)
    right.set_title("cost of one million warm requests")
    right.legend()
    for axis in (left, right):
        axis.set_xticks(memory, [f"{m:,}" for m in memory])
    figure.suptitle("At Lambda's CPU share for each memory size (CFS quota), 2-core machine")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def memory_size_section(sizes: dict[str, Any]) -> list[str]:
    """Cold start, warm request and cost per memory size, from bench/lambda_sizes.py."""
    title = "## Memory size: cold start, warm request and cost at Lambda's CPU shares"
    if "skipped" in sizes:
        return [title, "", f"Skipped: {sizes['skipped']}.", ""]
    chart_memory_sizes(sizes, BENCH / "memory_sizes.png")
    prices = sizes["prices"]
    per_gb_s = prices["per_gb_second"]
    lazy = sizes.get("lazy_imports")
    lines = [
        title,
        "",
        "Each memory size's CPU share is emulated with a cgroup v1 CFS quota of",
        f"round(MB * {sizes['period_us']:,} / {sizes['one_vcpu_mb']:,}) µs per "
        f"{sizes['period_us']:,} µs period ({sizes['one_vcpu_mb']:,} MB being one vCPU),",
        "the measured process placed in the group before it execs (bench/lambda_sizes.py).",
        f"{sizes['runs']} rounds, every size once per round, each run a fresh bare python3.12",
        "in the read-only unzipped iris bundle, as for the cold start above"
        + (f" (LAZY_IMPORTS={lazy})" if lazy is not None else "")
        + ". Cold start:",
        "from the spawn to the first answer read from the child's pipe.",
        "Init (`import handler`, which builds the app and loads the model) and the first",
        f"request are timed in the child; then {sizes['calls']} warm requests in the same",
        "process, back to back (a busy container), then "
        f"{sizes.get('spaced', 0)} more one period apart (one request at a time);",
        "billed ms: the mean of each call rounded up to 1 ms.",
        "A share above one CPU (3,008 MB: 1.7) cannot speed up a single-threaded process",
        "beyond one CPU.",
        "",
        "| memory MB | CPU share | cold start median s | min s | max s | init s "
        "| first request ms | warm median ms | billed ms | first ÷ warm "
        "| $ per 1M warm, x86_64 | $ per 1M warm, arm64 "
        "| one at a time: median ms | billed ms | $ per 1M, x86_64 "
        "| $ per cold start, x86_64 | $ per cold start, arm64 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        *[
            f"| {s['memory_mb']:,} | {s['cpu_share']:.0%} | {s['cold_start_s']['median']:.2f} | "
            f"{s['cold_start_s']['min']:.2f} | {s['cold_start_s']['max']:.2f} | "
            f"{s['init_s']:.2f} | {s['first_ms']:.1f} | {s['warm_median_ms']:.2f} | "
            f"{s['billed_warm_ms']:.2f} | {s['first_x_warm']:.1f} | "
            f"{s['cost_per_million_warm']['x86_64']:.3f} | "
            f"{s['cost_per_million_warm']['arm64']:.3f} | "
            f"{s['spaced_median_ms']:.2f} | {s['billed_spaced_ms']:.2f} | "
            f"{s['cost_per_million_spaced']['x86_64']:.3f} | "
            f"{s['cost_per_cold_start']['x86_64']:.7f} | {s['cost_per_cold_start']['arm64']:.7f} |"
            for s in sorted(sizes["sizes"], key=lambda size: size["memory_mb"])
        ],
        "",
        "Costs in USD, billed as Lambda bills, rounded up to the next 1 ms, with each",
        "invocation's request charge: a million warm requests at the mean billed ms (busy,",
        "and one at a time), one cold",
        "start at init + first request (INIT is billed for zip functions on managed runtimes",
        "since 1 August 2025). arm64 durations are not measured here (an x86_64 machine): the",
        "arm64 columns assume the x86_64 durations, so they show the price difference only.",
        "",
        f"Prices, {prices['region']}, first tier, free tier left out: x86_64",
        f"${per_gb_s['x86_64']:.10f} and arm64 ${per_gb_s['arm64']:.10f} per GB-second,",
        f"${prices['per_request'] * 1e6:.2f} per million requests; from {prices['source']},",
        f"read {prices['read']}.",
        "",
        "![memory sizes](memory_sizes.png)",
        "",
    ]
    return lines


def load_adversarial(folder: Path) -> dict[str, Any] | None:
    """adversarial.json, or None when the run has none."""
    path = folder / "adversarial.json"
    if not path.is_file():
        return None
    results: dict[str, Any] = json.loads(path.read_text())
    return results


def _adversarial_cases(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per case with its rows by way in, worst first (the rows' own order)."""
    cases: dict[tuple[str, str, str], dict[str, Any]] = {}
    for row in results["rows"]:
        case = cases.setdefault(
            (row["model"], row["protocol"], row["case"]), {"first": row, "ways": {}}
        )
        case["ways"][row["way"]] = row
    return list(cases.values())


def adversarial_headline(results: dict[str, Any] | None) -> str:
    what = "hostile requests up to MAX_CONTENT_LENGTH, each case both ways in"
    goal = "all: ≤ 100 ms CPU beyond predict, ≤ 32x the body of extra peak RSS"
    if results is None:
        return unmeasured_row(what, "not measured: no adversarial.json", goal)
    cases = _adversarial_cases(results)
    held = sum(all(row["holds_budget"] for row in c["ways"].values()) for c in cases)
    worst = cases[0]["first"]
    return (
        f"| {what} | {held} of {len(cases)} cases within the budget | worst: "
        f"{worst['protocol']}, {worst['model']}: {worst['case']} | | {goal} | "
        f"{verdict(held == len(cases))} |"
    )


def adversarial_section(results: dict[str, Any]) -> list[str]:
    """Hostile requests against the budget, from bench/adversarial.py, worst first."""
    budget, limits = results["budget"], results["limits"]
    cases = _adversarial_cases(results)
    held = [c for c in cases if all(row["holds_budget"] for row in c["ways"].values())]
    sound = [c for c in held if all(row["ok"] for row in c["ways"].values())]
    models = ", ".join(
        f"{key} ({model['name']}, {model['features']:,} features)"
        for key, model in results["models"].items()
    )

    def pair(values: list[float | None], spec: str, bound: bool) -> str:
        shown = ["" if v is None else (">" if bound else "") + format(v, spec) for v in values]
        return " / ".join(shown)

    lines = [
        "## Hostile requests: the cost of one request against the budget",
        "",
        f"The budget: any request up to MAX_CONTENT_LENGTH ({limits['max_content_length']:,}"
        f" bytes), on any route and protocol, costs at most {budget['cpu_ms_beyond_predict']:.0f}"
        f" ms of CPU beyond the model's own predict and at most {budget['memory_x_body']}x the",
        f"body's size of extra peak RSS (a body under {budget['memory_floor_body_bytes']:,}"
        f" bytes is allowed {budget['memory_x_body'] * budget['memory_floor_body_bytes']:,}"
        " bytes). Beside it, a case also",
        "fails on a 5xx and on an answer past Lambda's 6 MB response payload; a process whose",
        f"RSS passes the function's {budget['memory_limit_mb']:,} MB is killed, as Lambda would.",
        "",
        f"Measured by bench/adversarial.py at commit {results['commit']} ({results['seconds']:.0f}"
        f" s): {len(cases)} cases, each one request sent both ways in at once, `flask run`",
        "(its process's utime+stime and VmHWM from /proc, the mark reset through clear_refs)",
        "and handler.handler fed API Gateway REST events (a warm process forked for each case,",
        "measuring itself); predict is `Predictor.run` timed in the handler. Models: "
        + models
        + ". Cases: one valid request per protocol (control), what probing found, and a",
        "generator that fills the body with the most of one thing for each protocol, from",
        f"the limits (MAX_BATCH_ROWS {limits['max_batch_rows']:,}, MAX_JSON_DEPTH"
        f" {limits['max_json_depth']}, MAX_DETAILS {limits['max_details']}). On its own:",
        "`.venv/bin/python bench/adversarial.py --json /tmp/adv.json` (`--only TEXT` for the",
        "cases whose description holds TEXT).",
        "",
        f"{len(held)} of {len(cases)} cases held the budget both ways in, {len(sound)} of them"
        " also without a 5xx or an answer past 6 MB. Worst first, both ways in as",
        "flask run / handler; a figure after > is what a killed or timed-out process had",
        "spent by then:",
        "",
        "| case | status | answer bytes | Lambda bytes | CPU ms | predict ms | extra peak RSS MB"
        " | x body | x budget | |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for case in cases:
        ways = [case["ways"].get(way, {}) for way in ("flask run", "handler")]
        first = case["first"]
        statuses = [
            str(w.get("status")) if w.get("outcome") == "answered" else w.get("outcome", "")
            for w in ways
        ]
        bounds = [w.get("outcome") != "answered" for w in ways]
        failures = list(dict.fromkeys(f for w in ways for f in w.get("failures", [])))
        holds = all(w.get("holds_budget") for w in ways)
        lines.append(
            f"| {first['protocol']}, {first['model']}: {first['case']} | "
            + " / ".join(dict.fromkeys(statuses))
            + " | "
            + ("" if first["answer_bytes"] is None else f"{first['answer_bytes']:,}")
            + " | "
            + ("" if ways[1].get("payload_bytes") is None else f"{ways[1]['payload_bytes']:,}")
            + " | "
            + " / ".join(
                ("" if w.get("cpu_ms") is None else (">" if b else "") + f"{w['cpu_ms']:,.0f}")
                for w, b in zip(ways, bounds, strict=True)
            )
            + f" | {first['predict_ms'] or 0:,.0f} | "
            + " / ".join(
                (
                    ""
                    if w.get("extra_rss_bytes") is None
                    else (">" if b else "") + f"{w['extra_rss_bytes'] / 2**20:,.1f}"
                )
                for w, b in zip(ways, bounds, strict=True)
            )
            + " | "
            + " / ".join("" if w.get("x_body") is None else f"{w['x_body']:,.1f}" for w in ways)
            + " | "
            + " / ".join(f"{w.get('x_budget', float('inf')):,.2f}" for w in ways)
            + f" | {'; '.join(['holds' if holds else '**over**', *failures])} |"
        )
    worst = results.get("worst_generated_by_protocol", {})
    if worst:
        lines += [
            "",
            "The generator's worst body per protocol: "
            + "; ".join(f"{p}: {w['model']}, {w['case']}" for p, w in worst.items())
            + ".",
        ]
    return [*lines, ""]


def size_line(name: str, size: dict[str, Any]) -> str:
    return (
        f"{name}: zipped {size['zipped_bytes'] / MB:.1f} MB, unzipped "
        f"{size['unzipped_bytes']:,} bytes ({size['unzipped_bytes'] / MB:.1f} MB) in "
        f"{size['files']:,} files, of which bytecode {size['bytecode_bytes'] / MB:.1f} MB and "
        f"shared libraries {size['shared_library_bytes'] / MB:.1f} MB; a plain pip install "
        f"--target of {size.get('requirements', 'requirements.txt')} is "
        f"{size['plain_pip_target_bytes'] / MB:.1f} MB."
    )


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return f"{cpu}, {platform.machine()}, Python {platform.python_version()}, commit {commit}"


def build(folder: Path) -> str:
    warm = load(folder, "warm")
    batch = load(folder, "batch")
    protocols = load(folder, "protocols")
    cold = load(folder, "cold_start")
    cold_churn = load(folder, "cold_start_churn")
    sizes = load_sizes(folder)
    size = load(folder, "size")
    size_churn = load(folder, "size_churn")
    throughput = load(folder, "throughput")
    summary = throughput_summary(throughput)
    chart_throughput(summary, BENCH / "throughput.png")
    chart_latency(
        warm, {"iris bundle": cold, "churn pandas bundle": cold_churn}, BENCH / "latency.png"
    )

    ours, naive = summary["ours"], summary["naive"]
    warm_ratio = warm["handler"]["x_raw_predict"]
    cold_ratio = cold["medians"]["bundle"] / cold["medians"]["floor"]
    rows = []

    def row(what: str, figure: str, reference: str, ratio: float, goal: str, ok: bool) -> None:
        rows.append(headline_row(what, figure, reference, ratio, goal, ok))

    row(
        "warm request p50 (in process)",
        f"{warm['handler']['p50_us']:.0f} µs",
        f"raw predict {warm['raw predict']['p50_us']:.0f} µs",
        warm_ratio,
        "≤ 1.5x",
        warm_ratio <= 1.5,
    )
    # The request path against the naive apps: the four cases of one interleaved run
    # (bench/batch.py), each goal the ratio of p50s.
    for case, what, goal in REQUEST_PATH_GOALS:
        figures = batch[case]["variants"]
        ratio = batch[case]["x_naive_p50"]
        row(
            what,
            f"{figures['ours']['p50_us']:,.0f} µs",
            f"naive {figures['naive']['p50_us']:,.0f} µs",
            ratio,
            f"≤ {goal}x",
            ratio <= goal,
        )
    goal = protocols["goal_x_predict_p50"]
    for case in protocols["cases"].values():
        native = case["routes"]["/predict"]
        for name, route in case["routes"].items():
            if name != "/predict":
                row(
                    f"{name} vs /predict, {case['label']}, p50 (in process)",
                    f"{route['p50_us']:,.0f} µs",
                    f"/predict {native['p50_us']:,.0f} µs",
                    route["x_predict_p50"],
                    f"≤ {goal:.2f}x",
                    route["x_predict_p50"] <= goal,
                )
    row(
        "cold start (median), iris bundle",
        f"{cold['medians']['bundle']:.2f} s",
        f"floor {cold['medians']['floor']:.2f} s",
        cold_ratio,
        "≤ 0.75x",
        cold_ratio <= 0.75,
    )
    churn_cold_ratio = cold_churn["medians"]["bundle"] / cold_churn["medians"]["floor"]
    row(
        "cold start (median), churn pandas bundle",
        f"{cold_churn['medians']['bundle']:.2f} s",
        f"floor with pandas {cold_churn['medians']['floor']:.2f} s",
        churn_cold_ratio,
        "≤ 1.1x",
        churn_cold_ratio <= 1.1,
    )
    row(
        "cold start, churn pandas bundle vs iris bundle",
        f"{cold_churn['medians']['bundle']:.2f} s",
        f"iris bundle {cold['medians']['bundle']:.2f} s",
        cold_churn["medians"]["bundle"] / cold["medians"]["bundle"],
        "(context)",
        True,
    )
    no_pyc = cold["medians"]["without bytecode"]
    row(
        "cold start without bytecode",
        f"{no_pyc:.2f} s",
        f"bundle {cold['medians']['bundle']:.2f} s",
        no_pyc / cold["medians"]["bundle"],
        "(context)",
        True,
    )
    rows.extend(memory_size_headline(sizes, cold))
    adversarial = load_adversarial(folder)
    rows.append(adversarial_headline(adversarial))
    for c in sorted(ours):
        ratio = ours[c]["requests_per_s"] / naive[c]["requests_per_s"]
        row(
            f"throughput, {c} connections",
            f"{ours[c]['requests_per_s']:.0f} req/s",
            f"naive {naive[c]['requests_per_s']:.0f} req/s",
            ratio,
            f"≥ {THROUGHPUT_GOAL}x",
            ratio >= THROUGHPUT_GOAL,
        )
        if "mlserver" in summary:
            ml = summary["mlserver"][c]
            ratio = ours[c]["requests_per_s"] / ml["requests_per_s"]
            ok = ratio >= 2 and ours[c]["p99_ms"] < ml["p99_ms"] and ours[c]["errors"] == 0
            row(
                f"throughput vs MLServer, {c} connections",
                f"{ours[c]['requests_per_s']:.0f} req/s, p99 {ours[c]['p99_ms']:.1f} ms",
                f"MLServer {ml['requests_per_s']:.0f} req/s, p99 {ml['p99_ms']:.1f} ms",
                ratio,
                "≥ 2x, lower p99, 0 errors",
                ok,
            )
    row(
        "bundle unzipped",
        f"{size['unzipped_bytes'] / MB:.1f} MB",
        "Lambda limit 262.1 MB",
        size["x_lambda_limit"],
        "≤ 200 MB",
        size["unzipped_bytes"] <= 200 * MB,
    )
    row(
        "pandas bundle unzipped (churn)",
        f"{size_churn['unzipped_bytes'] / MB:.1f} MB",
        "Lambda limit 262.1 MB",
        size_churn["x_lambda_limit"],
        "≤ 262.1 MB",
        size_churn["x_lambda_limit"] <= 1,
    )
    row(
        "bundle unzipped vs plain install",
        f"{size['unzipped_bytes'] / MB:.1f} MB",
        f"pip --target {size['plain_pip_target_bytes'] / MB:.1f} MB",
        size["x_plain_install"],
        "(context)",
        True,
    )
    workers = throughput["ours"]["workers_mb"]
    # Per worker, from its own 100th request: a worker that got few of the first
    # requests is still loading code then, and a summed baseline would hide that.
    growth_by_worker = {
        pid: workers["after_load"][pid] / before for pid, before in workers["after_own_100"].items()
    }
    worst = max(growth_by_worker, key=growth_by_worker.get)
    served = throughput["ours"]["requests_served"]
    row(
        f"RSS growth, worst of {len(growth_by_worker)} workers, over {served:,} requests",
        f"{workers['after_load'][worst]:.1f} MB",
        f"after its own 100th request {workers['after_own_100'][worst]:.1f} MB",
        growth_by_worker[worst],
        "≤ 1.10x",
        growth_by_worker[worst] <= 1.10,
    )

    lines = [
        "# Benchmark report",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC in one `make bench` run on {machine()}.",
        "Every figure stands beside its reference from the same run, interleaved; the ratios",
        "are what carries over between machines, the absolute times are this machine's.",
        "",
        "## Headline",
        "",
        "| what | ours | reference | ratio | goal | |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "![throughput](throughput.png)",
        "",
        "![latency](latency.png)",
        "",
        "## Warm request, in process",
        "",
        f"Interleaved rounds, {warm['handler']['calls']:,} calls per variant after warm-up.",
        "",
        "| variant | p50 µs | p90 µs | p99 µs | x raw predict |",
        "|---|---|---|---|---|",
        *[
            f"| {n} | {w['p50_us']:.1f} | {w['p90_us']:.1f} | {w['p99_us']:.1f} | "
            f"{w['x_raw_predict']:.2f} |"
            for n, w in warm.items()
        ],
        "",
        *profile_section(load(folder, "profile")),
        *batch_section(batch),
        *protocols_section(protocols, summary),
        *(adversarial_section(adversarial) if adversarial else []),
        *capture_section(folder),
        "## Cold start of the bundle",
        "",
        f"Process start to the first /predict answer, median of {cold['runs']} interleaved runs,",
        "bare python3.12 (-I -S -B) in a read-only copy of the unzipped bundle.",
        "",
        "The iris bundle (the bundled model; its floor imports numpy, scikit-learn and joblib):",
        "",
        *cold_table(cold),
        "",
        f"The pandas bundle serving {cold_churn['model']} (MODEL_URI set to it; its floor also",
        "imports pandas and predicts a one-row DataFrame):",
        "",
        *cold_table(cold_churn),
        "",
        *memory_size_section(sizes),
        "## Throughput",
        "",
        "wrk, 2 threads, keep-alive, single-row bodies, 10 s per run, rounds interleaved; medians",
        "over rounds. Errors are non-2xx answers plus socket errors.",
        "",
        "| server | connections | req/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---|---|---|",
        *[
            f"| {n} | {c} | {s['requests_per_s']:.0f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} | "
            f"{s['errors']} |"
            for n, per in summary.items()
            for c, s in per.items()
        ],
        "",
        "## Memory",
        "",
        "RSS and PSS of each server's whole process tree, MB.",
        "",
        "| server | RSS idle | PSS idle | RSS after load | PSS after load | processes |",
        "|---|---|---|---|---|---|",
        *[
            f"| {n} | {d['idle']['rss_mb']:.0f} | {d['idle']['pss_mb']:.0f} | "
            f"{d['after_load']['rss_mb']:.0f} | {d['after_load']['pss_mb']:.0f} | "
            f"{d['after_load']['processes']} |"
            for n, d in throughput.items()
            if "idle" in d  # not our protocol routes: they load ours' process
        ],
        "",
        "Our gunicorn workers, each measured after its own 100th and 10,000th request",
        "(a server hook in bench/gunicorn.conf.py) and after the whole load, RSS in MB:",
        "",
        "| worker | after its 100th | after its 10,000th | after the load | growth |",
        "|---|---|---|---|---|",
        *[
            f"| {pid} | {before:.1f} | {workers['after_own_10000'].get(pid, float('nan')):.1f} | "
            f"{workers['after_load'][pid]:.1f} | {growth_by_worker[pid]:.3f}x |"
            for pid, before in workers["after_own_100"].items()
        ],
        "",
        "## Size",
        "",
        size_line("The iris bundle", size),
        "",
        size_line("The pandas bundle (churn)", size_churn),
        "",
        "| top level | iris bundle, MB | pandas bundle, MB |",
        "|---|---|---|",
        *[
            f"| {name} | {size['by_top_level'].get(name, 0) / MB:.1f} | {b / MB:.1f} |"
            for name, b in list(size_churn["by_top_level"].items())[:16]
        ],
        "",
    ]
    notes = BENCH / "NOTES.md"
    if notes.is_file():
        lines += [notes.read_text().rstrip(), ""]
    return "\n".join(lines)


def main() -> None:
    folder = Path(sys.argv[1])
    (BENCH / "REPORT.md").write_text(build(folder))
    print(f"wrote {BENCH / 'REPORT.md'}")


if __name__ == "__main__":
    main()
