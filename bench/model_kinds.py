"""Models as users have them, from training to a proven bundle: size, cold start, answer.

    python bench/model_kinds.py [--runs 5] [--only NAME ...] [--json out.json]

Each kind is trained from generated data in a folder of its own under bench/.work/kinds/
(inside the repository, so that `modelUri` may name it), described as a user would
(`model/describe.py` run as a file from that folder), and packaged with
`make package SLS_ARGS="--param=modelUri=..."`, which installs what the model needs,
checks the bundle's libraries and size, and proves the bundle answers. Then
bench/cold_start.py times the bundle's cold start against its floor. The kinds:

- own-code:  a pipeline with the user's transformer class and function (tests/user_project),
             joblib, shipped with --code;
- lightgbm:  the example of docs/models.md ("Your own code and packages"): the team's
             DataFrame transformer, a ColumnTransformer and LightGBM, its two files taken
             from that page itself;
- skops:     the own-code pipeline saved with skops, its two types trusted with --trust;
- datetime:  a zoned date-time column read with `.dt` by the user's transformer
             (tests/date_features.py);
- old-sklearn: the own-code pipeline stamped as fitted by scikit-learn 1.5.2: packaging
             must refuse it, and the figure is the refusal.

Training and describing run in the repository's .venv (it has lightgbm and skops when
`make test` built it); the packaging in `make package`; the timing in this interpreter.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "bench" / ".work" / "kinds"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
DESCRIBE = ROOT / "model" / "describe.py"
USER_PROJECT = ROOT / "tests" / "user_project"
MODELS_PAGE = ROOT / "docs" / "models.md"
EXAMPLE_SECTION = "### Your own code and packages"
# Lambda's limit on a function's unzipped size, layers included.
LAMBDA_UNZIPPED_LIMIT = 262_144_000


@dataclass
class Kind:
    name: str
    artifact: str  # its file name inside the kind's folder
    prepare: Callable[[Path], None]  # writes the sources and trains, in that folder
    describe_options: list[str] = field(default_factory=list)
    refused: bool = False  # packaging must refuse it


def python(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_PYTHON), *args], cwd=folder, capture_output=True, text=True, check=False
    )


def checked(result: subprocess.CompletedProcess[str], what: str) -> str:
    if result.returncode != 0:
        sys.exit(f"{what} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


def user_project(*flags: str, artifact: str) -> Callable[[Path], None]:
    def prepare(folder: Path) -> None:
        shutil.copytree(USER_PROJECT, folder, dirs_exist_ok=True)
        checked(python(folder, "train.py", artifact, *flags), f"training {artifact}")

    return prepare


def example_blocks() -> list[str]:
    text = MODELS_PAGE.read_text()
    section = text[text.index(EXAMPLE_SECTION) :]
    section = section[: section.index("\n### ", len(EXAMPLE_SECTION))]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def documented_example(folder: Path) -> None:
    features, train = example_blocks()[:2]
    (folder / "myfeatures.py").write_text(features)
    (folder / "train.py").write_text(train)
    checked(python(folder, "train.py"), "training the example of docs/models.md")


DATETIME_TRAINING = """
import json, sys
import joblib
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from date_features import DateParts, visits

frame, target = visits(400, "datetime64[ns, UTC]")
model = make_pipeline(DateParts(), LinearRegression()).fit(frame[["when"]], target)
joblib.dump(model, "visits.joblib")
frame[["when"]].head(8).to_json("example.json", orient="records", date_format="iso")
"""


def datetime_example(folder: Path) -> None:
    shutil.copy(ROOT / "tests" / "date_features.py", folder)
    (folder / "train.py").write_text(DATETIME_TRAINING)
    checked(python(folder, "train.py"), "training the date-time model")


KINDS = [
    Kind("own-code", "model.joblib", user_project(artifact="model.joblib"), ["--code", "features"]),
    Kind(
        "lightgbm",
        "churn.joblib",
        documented_example,
        ["--code", "myfeatures.py", "--name", "churn-lgbm"],
    ),
    Kind(
        "skops",
        "model.skops",
        user_project(artifact="model.skops"),
        ["--code", "features", "--trust", "features.AddRatio", "--trust", "features.clipped"],
    ),
    Kind("datetime", "visits.joblib", datetime_example, ["--code", "date_features.py"]),
    Kind(
        "old-sklearn",
        "model.joblib",
        user_project("--sklearn-version", "1.5.2", artifact="model.joblib"),
        ["--code", "features"],
        refused=True,
    ),
]


def unzipped_size(archive: Path) -> int:
    with zipfile.ZipFile(archive) as zf:
        return sum(info.file_size for info in zf.infolist())


def package(model_uri: str, into: Path) -> subprocess.CompletedProcess[str]:
    arguments = f"--package {into} --param=modelUri={model_uri}"
    return subprocess.run(
        ["make", "--no-print-directory", "package", f"SLS_ARGS={arguments}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )


def measure(kind: Kind, runs: int) -> dict[str, Any]:
    folder = WORK / kind.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    kind.prepare(folder)
    described = python(
        folder, str(DESCRIBE), kind.artifact, "--example", "example.json", *kind.describe_options
    )
    summary = checked(described, f"describing {kind.name}")
    model_uri = str((folder / kind.artifact).relative_to(ROOT))
    built = package(model_uri, folder / "package")
    result: dict[str, Any] = {"kind": kind.name, "describe": summary.strip()}
    if kind.refused:
        if built.returncode == 0:
            sys.exit(f"{kind.name}: packaging should have refused it, and did not")
        # The bundle's own words: the line after sls' "Error:" that says what it answered.
        said = [line.strip() for line in built.stdout.splitlines() if "answered" in line]
        result["refusal"] = said[0] if said else built.stdout.strip().splitlines()[-1]
        return result
    if built.returncode != 0:
        sys.exit(f"packaging {kind.name} failed:\n{built.stdout}")
    archive = folder / "package" / "model-prediction-api.zip"
    timing = folder / "cold_start.json"
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "cold_start.py"),
            "--zip",
            str(archive),
            "--model",
            model_uri,
            "--runs",
            str(runs),
            "--json",
            str(timing),
        ],
        check=True,
        capture_output=True,
    )
    medians = json.loads(timing.read_text())["medians"]
    metadata = json.loads((folder / kind.artifact).with_suffix(".json").read_text())
    result |= {
        "unzipped_bytes": unzipped_size(archive),
        "zipped_bytes": archive.stat().st_size,
        "cold_start_s": medians["bundle"],
        "floor_s": medians["floor"],
        "answer": metadata["example_predictions"][0],
        "example_row": metadata["example"][0],
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--only", action="append", choices=[k.name for k in KINDS])
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    if not VENV_PYTHON.exists():
        sys.exit(f"{VENV_PYTHON} not found: run `make test` (or make .venv/.installed-dev)")
    chosen = [kind for kind in KINDS if not args.only or kind.name in args.only]
    results = [measure(kind, args.runs) for kind in chosen]
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    print(f"models from training to a proven bundle; cold start: median of {args.runs} runs")
    print(f"{'kind':<12} {'unzipped B':>12} {'of limit':>8} {'cold s':>7} {'floor s':>8}  answer")
    for result in results:
        if "refusal" in result:
            print(f"{result['kind']:<12} refused: {result['refusal']}")
            continue
        share = result["unzipped_bytes"] / LAMBDA_UNZIPPED_LIMIT
        print(
            f"{result['kind']:<12} {result['unzipped_bytes']:>12,} {share:>8.0%} "
            f"{result['cold_start_s']:>7.2f} {result['floor_s']:>8.2f}  "
            f"{json.dumps(result['answer'])} for {json.dumps(result['example_row'])}"
        )
    for result in results:
        print(f"\n{result['kind']}: describe said\n{result['describe']}")


if __name__ == "__main__":
    main()
