"""A model with the user's own code and packages, in each format, described from the user's
project folder and served from anywhere: what the artifact references is read from its
file, the user's modules ship in a code archive, and every missing piece is named.

The user's project is tests/user_project (a `features` package with a transformer class
and a function, and a training script), copied outside the repository; describe runs as
a file from that folder, as docs/models.md says, and the app is built in this process with
nothing of the project on sys.path.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sklearn
from flask import Flask
from lightgbm import LGBMClassifier
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder
from support.paths import ROOT, TESTS

from app.core.artifact import code_path_for, metadata_path_for, sha256_of
from model.export import Description, ExportError, save_model

DESCRIBE = ROOT / "model" / "describe.py"
USER_PROJECT = TESTS / "user_project"
ROW = {"a": 0.8, "b": -1.2, "c": 0.1}
MARKER_NAME = "unpickled-marker"


@pytest.fixture(autouse=True)
def clean_imports() -> Iterator[None]:
    """The user's modules and code archives leave nothing behind for other tests."""
    path, modules = list(sys.path), set(sys.modules)
    yield
    sys.path[:] = path
    for name in set(sys.modules) - modules:
        if name.partition(".")[0] in ("features", "evil_payload"):
            del sys.modules[name]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    shutil.copytree(USER_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
    return folder


def run(project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=project,
        env={"PATH": "/usr/bin:/bin", "HOME": str(project)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """`trained(name, *flags)`: a copy of the project where `python train.py name *flags`
    ran, as a user trains. Run once per name and flags for the module: it writes the
    same files every time, and each test takes copies into its own project."""
    made: dict[tuple[str, ...], Path] = {}

    def train_once(name: str, *flags: str) -> Path:
        if (name, *flags) not in made:
            folder = tmp_path_factory.mktemp("trained") / "project"
            shutil.copytree(USER_PROJECT, folder, ignore=shutil.ignore_patterns("__pycache__"))
            result = run(folder, "train.py", name, *flags)
            assert result.returncode == 0, result.stderr
            made[(name, *flags)] = folder
        return made[(name, *flags)]

    return train_once


@pytest.fixture
def train(trained: Callable[..., Path]) -> Callable[..., Path]:
    """`train(project, name, *flags)`: the artifact and example.json the training script
    writes, in `project`; returns the artifact."""

    def into(project: Path, name: str, *flags: str) -> Path:
        source = trained(name, *flags)
        for file in (name, "example.json"):
            shutil.copy(source / file, project / file)
        return project / name

    return into


def describe(project: Path, artifact: Path, *options: str) -> subprocess.CompletedProcess[str]:
    return run(project, str(DESCRIBE), artifact.name, "--example", "example.json", *options)


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    assert result.returncode == 1, result.stdout
    assert "Traceback" not in result.stderr
    message = result.stderr.strip()
    assert message.startswith("error: ") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, message
    return message


def metadata_of(artifact: Path) -> dict:
    return json.loads(metadata_path_for(artifact).read_text())


def serve(make_app: Callable[..., Flask], artifact: Path, **settings: str) -> Flask:
    return make_app(MODEL_URI=str(artifact), **settings)


def test_the_users_transformer_ships_in_a_code_archive(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "churn.joblib")
    result = describe(project, artifact, "--code", "features")
    assert result.returncode == 0, result.stderr
    assert "wrote churn.code.zip" in result.stdout
    assert "ships your code: features in churn.code.zip" in result.stdout

    metadata = metadata_of(artifact)
    archive = code_path_for(artifact)
    assert metadata["code"] == {
        "file": "churn.code.zip",
        "sha256": sha256_of(archive),
        "modules": ["features"],
    }
    assert zipfile.ZipFile(archive).namelist() == ["features/__init__.py"]
    assert {"features:AddRatio", "features:clipped"} <= set(metadata["references"])
    assert metadata["distributions"]["scikit-learn"] == sklearn.__version__
    assert "features" not in metadata["distributions"]
    assert metadata["trained_with"]["scikit-learn"] == sklearn.__version__

    # Served from elsewhere, with only the archive to import the user's code from.
    (project / "features").rename(project / "moved-away")
    client = serve(make_app, artifact).test_client()
    answer = client.post("/predict", json={"instances": metadata["example"]})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["predictions"] == metadata["example_predictions"]
    assert sys.modules["features"].__file__.startswith(str(archive))
    assert client.get("/model").get_json()["code"] == metadata["code"]


def test_the_archive_is_the_same_bytes_for_the_same_sources(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.joblib")
    hashes = []
    for _ in range(2):
        assert describe(project, artifact, "--code", "features").returncode == 0
        hashes.append(metadata_of(artifact)["code"]["sha256"])
    assert hashes[0] == hashes[1]


def test_without_code_describe_names_the_module_and_the_fix(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.joblib")
    result = describe(project, artifact)
    assert_one_line_error(
        result,
        "the model references features.AddRatio",
        "belongs to no installed distribution",
        f"--code {project / 'features'}",
    )
    assert not metadata_path_for(artifact).exists()
    assert not code_path_for(artifact).exists()


def test_a_module_that_does_not_import_is_named_with_the_fix(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.joblib")
    shutil.rmtree(project / "features")
    assert_one_line_error(
        describe(project, artifact),
        "the model references features.AddRatio",
        "module features cannot be imported here",
        "--code path/to/features.py",
    )


def test_a_function_from_the_training_script_is_refused(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.joblib", "--main-function")
    assert_one_line_error(
        describe(project, artifact, "--code", "features"),
        "references doubled from __main__",
        "move it into a module",
        "--code",
    )


def test_a_file_of_no_known_format_is_refused(project: Path, train: Callable[..., Path]) -> None:
    artifact = train(project, "model.joblib")
    renamed = artifact.rename(project / "model.bin")
    assert_one_line_error(
        describe(project, renamed),
        "model.bin: no known artifact format",
        ".joblib, .pkl, .pickle, .skops",
    )


def test_a_file_that_is_not_what_its_extension_says_is_refused(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.skops")
    renamed = artifact.rename(project / "model.joblib")
    assert_one_line_error(
        describe(project, renamed, "--code", "features"), "model.joblib is not a readable joblib"
    )


def test_a_plain_pickle_is_served(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "model.pkl")
    assert describe(project, artifact, "--code", "features").returncode == 0
    metadata = metadata_of(artifact)
    assert metadata["format"] == "pickle"
    (project / "features").rename(project / "moved-away")
    answer = serve(make_app, artifact).test_client().post("/predict", json={"features": ROW})
    assert answer.status_code == 200
    assert answer.get_json()["prediction"] in ("yes", "no")


def test_skops_loads_exactly_the_types_trusted_at_describe(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "model.skops")
    refused = describe(project, artifact, "--code", "features")
    assert_one_line_error(
        refused,
        "model.skops needs types that skops does not trust by default: "
        "features.AddRatio, features.clipped",
        "--trust features.AddRatio --trust features.clipped",
    )
    trusted = describe(
        project,
        artifact,
        "--code",
        "features",
        "--trust",
        "features.AddRatio",
        "--trust",
        "features.clipped",
    )
    assert trusted.returncode == 0, trusted.stderr
    metadata = metadata_of(artifact)
    assert metadata["format"] == "skops"
    assert metadata["trusted"] == ["features.AddRatio", "features.clipped"]
    assert "skops" in metadata["distributions"]
    (project / "features").rename(project / "moved-away")
    client = serve(make_app, artifact).test_client()
    answer = client.post("/predict", json={"instances": metadata["example"]})
    assert answer.get_json()["predictions"] == metadata["example_predictions"]

    # The trusted list is the metadata's, not the file's: one type fewer, no model.
    metadata["trusted"] = ["features.AddRatio"]
    metadata_path_for(artifact).write_text(json.dumps(metadata))
    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    assert "could not be loaded with skops" in health.get_json()["reason"]
    assert "features.clipped" in health.get_json()["reason"]


def test_the_version_that_fitted_the_model_is_read_from_the_artifact(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "old.joblib", "--sklearn-version", "1.5.2")
    result = describe(project, artifact, "--code", "features")
    assert result.returncode == 0, result.stderr
    assert metadata_of(artifact)["trained_with"]["scikit-learn"] == "1.5.2"
    assert "fitted with scikit-learn 1.5.2" in result.stdout
    assert f"retrain with {sklearn.__version__}" in result.stdout

    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    assert "trained with scikit-learn 1.5.2" in health.get_json()["reason"]
    allowed = serve(make_app, artifact, ALLOW_VERSION_MISMATCH="1").test_client()
    assert allowed.get("/health").status_code == 200
    assert allowed.get("/model").get_json()["trained_with"]["scikit-learn"] == "1.5.2"


def test_a_missing_distribution_is_a_503_naming_it_before_unpickling(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    """An artifact whose reduce would write a marker, needing a package not installed here:
    the import check stops it before the pickle runs."""
    marker = project / MARKER_NAME
    artifact = project / "needs.pkl"
    payload = (
        "import os\n"
        "class Writes:\n"
        "    def __reduce__(self):\n"
        f"        return (os.system, ('touch {marker}',))\n"
    )
    (project / "evil_payload.py").write_text(payload)
    result = run(
        project,
        "-c",
        "import pickle, evil_payload; "
        f"pickle.dump(evil_payload.Writes(), open({str(artifact)!r}, 'wb'))",
    )
    assert result.returncode == 0, result.stderr
    model = train(project, "model.joblib")
    assert describe(project, model, "--code", "features").returncode == 0
    metadata = metadata_of(model)
    metadata["sha256"] = sha256_of(artifact)
    metadata["format"] = "pickle"
    metadata["references"] = ["lightgbm_extra.core:Booster", *metadata["references"]]
    metadata["distributions"]["lightgbm-extra"] = "9.9.9"
    metadata_path_for(artifact).write_text(json.dumps(metadata))
    shutil.copy(code_path_for(model), code_path_for(artifact))

    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    reason = health.get_json()["reason"]
    assert "the model needs module lightgbm_extra.core (for lightgbm_extra.core.Booster)" in reason
    assert "install lightgbm-extra==9.9.9" in reason
    assert not marker.exists()


def test_a_rewritten_code_archive_is_refused_before_anything_is_unpickled(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "model.joblib")
    assert describe(project, artifact, "--code", "features").returncode == 0
    (project / "features").rename(project / "moved-away")
    archive = code_path_for(artifact)
    marker = project / MARKER_NAME
    with zipfile.ZipFile(archive, "w") as rewritten:
        rewritten.writestr("features/__init__.py", f"open({str(marker)!r}, 'w').close()\n")
    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    reason = health.get_json()["reason"]
    assert "model code archive model.code.zip has sha256" in reason
    assert "refusing to load it" in reason
    assert not marker.exists()
    assert "features" not in sys.modules


def test_an_archive_that_lacks_a_module_is_named(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "model.joblib")
    assert describe(project, artifact, "--code", "features").returncode == 0
    (project / "features").rename(project / "moved-away")
    archive = code_path_for(artifact)
    with zipfile.ZipFile(archive, "w") as rewritten:
        rewritten.writestr("other.py", "")
    metadata = metadata_of(artifact)
    metadata["code"]["sha256"] = sha256_of(archive)
    metadata_path_for(artifact).write_text(json.dumps(metadata))
    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    assert (
        "module features (for features.AddRatio) does not import from the model's code "
        in (health.get_json()["reason"])
    )


def test_answers_other_than_the_recorded_ones_make_the_model_unavailable(
    project: Path, train: Callable[..., Path], make_app: Callable[..., Flask]
) -> None:
    artifact = train(project, "model.joblib")
    assert describe(project, artifact, "--code", "features").returncode == 0
    metadata = metadata_of(artifact)
    recorded = metadata["example_predictions"]
    metadata["example_predictions"] = ["no" if p == "yes" else "yes" for p in recorded]
    metadata_path_for(artifact).write_text(json.dumps(metadata))
    health = serve(make_app, artifact).test_client().get("/health")
    assert health.status_code == 503
    assert f"answers example row 0 with {recorded[0]!r}" in health.get_json()["reason"]


def test_save_model_writes_the_archive_and_nothing_on_failure(tmp_path: Path) -> None:
    sys.path.insert(0, str(USER_PROJECT))
    from features import AddRatio

    X = np.random.default_rng(0).normal(size=(50, 2))
    y = (X[:, 0] > 0).astype(int)
    estimator = make_pipeline(AddRatio(0, 1), LGBMClassifier(n_estimators=5, verbose=-1))
    estimator.fit(X, y)
    artifact = tmp_path / "lgbm.joblib"
    with pytest.raises(ExportError, match="belongs to no installed distribution"):
        save_model(estimator, artifact, Description("lgbm", "1.0.0", ["x", "y"]), X[:3])
    assert list(tmp_path.iterdir()) == []

    metadata = save_model(
        estimator,
        artifact,
        Description("lgbm", "1.0.0", ["x", "y"]),
        X[:3],
        code=[USER_PROJECT / "features"],
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "lgbm.code.zip",
        "lgbm.joblib",
        "lgbm.json",
    ]
    assert metadata["distributions"]["lightgbm"] == "4.7.0"
    assert metadata["code"]["sha256"] == sha256_of(code_path_for(artifact))
    assert metadata["sha256"] == sha256_of(artifact)


def test_a_lightgbm_pipeline_records_its_distribution(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame(
        {
            "tenure": rng.integers(1, 60, 200),
            "spend": rng.normal(50, 10, 200).round(2),
            "plan": rng.choice(["basic", "pro"], 200),
        }
    )
    y = np.where((frame.spend > 50) | (frame.plan == "pro"), "stay", "leave")
    pipeline = make_pipeline(
        ColumnTransformer(
            [("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"])], remainder="passthrough"
        ),
        LGBMClassifier(n_estimators=20, verbose=-1),
    ).fit(frame, y)
    artifact = tmp_path / "lgbm.joblib"
    metadata = save_model(pipeline, artifact, Description("lgbm", "1.0.0"), frame.head(8))
    assert metadata["distributions"]["lightgbm"] == "4.7.0"
    assert "lightgbm.sklearn:LGBMClassifier" in metadata["references"]
    assert metadata["code"] is None
    client = serve(make_app, artifact).test_client()
    answer = client.post("/predict", json={"instances": metadata["example"]})
    assert answer.get_json()["predictions"] == metadata["example_predictions"]


def test_a_pipeline_starting_with_a_dataframe_transformer_is_handed_a_dataframe(
    tmp_path: Path, make_app: Callable[..., Flask]
) -> None:
    """Its first step records no feature names, so it looks fitted on an array; the array
    fails in the user's code (an IndexError), and a DataFrame of the example answers."""
    sys.path.insert(0, str(USER_PROJECT))
    from features import SpendPerMonth

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"tenure": rng.integers(1, 60, 300), "spend": rng.normal(60, 20, 300)})
    y = np.where(frame.spend / frame.tenure > 3, "leave", "stay")
    pipeline = make_pipeline(SpendPerMonth(), LGBMClassifier(n_estimators=10, verbose=-1))
    pipeline.fit(frame, y)
    rows = json.loads(frame.head(5).to_json(orient="records"))
    artifact = tmp_path / "spend.joblib"
    metadata = save_model(
        pipeline, artifact, Description("spend", "1.0.0"), rows, code=[USER_PROJECT / "features"]
    )
    assert metadata["model_input"] == "dataframe"
    client = serve(make_app, artifact).test_client()
    answer = client.post("/predict", json={"instances": rows})
    assert answer.get_json()["predictions"] == metadata["example_predictions"]


def test_a_model_failing_on_its_example_is_one_line_with_the_error(
    project: Path, train: Callable[..., Path]
) -> None:
    artifact = train(project, "model.joblib")
    rows = json.loads((project / "example.json").read_text())
    rows[0]["b"] = 5e6
    (project / "example.json").write_text(json.dumps(rows))
    assert_one_line_error(
        describe(project, artifact, "--code", "features"),
        "the model fails on its example rows: LookupError: a value beyond 1e6 is an error code",
    )
