"""`python -m model.describe`: metadata for any saved estimator, or a clear refusal."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.datasets import load_diabetes, load_iris
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from support.iris import IRIS_FEATURES, SETOSA
from support.paths import ROOT

from app.core.artifact import library_versions, metadata_path_for, sha256_of
from model.describe import describe
from model.export import ExportError

SETOSA_ROWS = [SETOSA, [6.7, 3.0, 5.2, 2.3]]


def names(metadata: dict) -> list[str]:
    return [feature["name"] for feature in metadata["features"]]


def saved(estimator: object, path: Path) -> Path:
    joblib.dump(estimator, path)
    return path


def iris_classifier(named: bool) -> object:
    iris = load_iris()
    estimator = make_pipeline(StandardScaler(), LogisticRegression(max_iter=500))
    estimator.fit(iris.data, np.asarray(iris.target_names)[iris.target])
    if named:
        # What fitting on a DataFrame with these columns records (the pipeline
        # reports its first step's).
        estimator[0].feature_names_in_ = np.asarray(IRIS_FEATURES, dtype=object)
    return estimator


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "model.describe", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_classifier_with_its_own_feature_names(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=True), tmp_path / "flowers.joblib")
    metadata = describe(artifact, version="2.0.0", metrics={"accuracy": 0.96})
    assert json.loads(metadata_path_for(artifact).read_text()) == metadata
    assert metadata["name"] == "flowers"
    assert metadata["version"] == "2.0.0"
    assert metadata["task"] == "classification"
    assert names(metadata) == IRIS_FEATURES
    assert metadata["classes"] == ["setosa", "versicolor", "virginica"]
    assert metadata["sha256"] == sha256_of(artifact)
    assert metadata["trained_with"] == library_versions()
    assert metadata["metrics"] == {"accuracy": 0.96}


def test_regressor_with_given_feature_names(tmp_path: Path) -> None:
    data = load_diabetes()
    artifact = saved(LinearRegression().fit(data.data, data.target), tmp_path / "d.joblib")
    metadata = describe(artifact, features=list(data.feature_names), name="diabetes")
    assert (metadata["task"], metadata["classes"]) == ("regression", [])
    assert names(metadata) == list(data.feature_names)


def test_model_fitted_on_named_columns_serves_arrays_without_warnings(
    tmp_path: Path, make_app
) -> None:
    artifact = saved(iris_classifier(named=True), tmp_path / "named.joblib")
    describe(artifact)
    client = make_app(MODEL_URI=str(artifact)).test_client()
    # pytest turns warnings into errors: a feature-name warning would fail this.
    response = client.post("/predict", json={"features": SETOSA})
    assert response.status_code == 200
    assert response.get_json()["prediction"] == "setosa"


def test_served_feature_order_must_match_the_fitted_names(tmp_path: Path, make_app) -> None:
    artifact = saved(iris_classifier(named=True), tmp_path / "named.joblib")
    metadata = describe(artifact)
    metadata["features"] = list(reversed(metadata["features"]))
    metadata_path_for(artifact).write_text(json.dumps(metadata))
    reason = make_app(MODEL_URI=str(artifact)).test_client().get("/health").get_json()["reason"]
    assert "estimator was fitted on features" in reason


@pytest.mark.parametrize(
    ("features", "fragment"),
    [
        (None, "records no feature names: pass --features with its 4 names"),
        (["a", "b", "c"], "takes 4 features, 3 were named"),
        (["a", "a", "b", "c"], "must be distinct"),
    ],
)
def test_refuses_what_cannot_be_served(tmp_path: Path, features, fragment: str) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "m.joblib")
    with pytest.raises(ExportError, match=fragment):
        describe(artifact, features=features)
    assert not metadata_path_for(artifact).exists()


def test_given_names_must_agree_with_fitted_ones(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=True), tmp_path / "m.joblib")
    with pytest.raises(ExportError, match="differ from the estimator's own"):
        describe(artifact, features=["w", "x", "y", "z"])


def test_refuses_an_estimator_that_predicts_nothing(tmp_path: Path) -> None:
    artifact = saved(StandardScaler().fit(load_iris().data), tmp_path / "scaler.joblib")
    with pytest.raises(ExportError, match="neither a classifier, a regressor, a clusterer nor"):
        describe(artifact, features=IRIS_FEATURES)
    assert not metadata_path_for(artifact).exists()


def test_command_line(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "cli.joblib")
    result = run_cli(
        str(artifact),
        "--features", ",".join(IRIS_FEATURES),
        "--name", "iris-cli", "--version", "3.1.4",
        "--metric", "accuracy=0.95", "--metric", "f1=0.94",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    metadata = json.loads(metadata_path_for(artifact).read_text())
    assert (metadata["name"], metadata["version"]) == ("iris-cli", "3.1.4")
    assert metadata["metrics"] == {"accuracy": 0.95, "f1": 0.94}


def test_command_line_errors_are_one_line(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "cli.joblib")
    result = run_cli(str(artifact))
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: the estimator records no feature names")
    bad_metric = run_cli(str(artifact), "--metric", "accuracy")
    assert bad_metric.returncode == 2 and "expected NAME=NUMBER" in bad_metric.stderr


def test_command_line_from_another_folder_with_an_example_file(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "cli.joblib")
    example = tmp_path / "rows.json"
    example.write_text(json.dumps([dict(zip(IRIS_FEATURES, SETOSA, strict=True))]))
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "model" / "describe.py"),
            "cli.joblib",
            "--example",
            "rows.json",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].startswith(
        "cli 1.0.0: classification, handed a float64 array, proven on 1 example row(s)"
    )
    metadata = json.loads(metadata_path_for(artifact).read_text())
    assert names(metadata) == IRIS_FEATURES
    assert metadata["example"] == [dict(zip(IRIS_FEATURES, SETOSA, strict=True))]


def test_an_example_file_that_is_not_rows_is_one_line(tmp_path: Path) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "cli.joblib")
    example = tmp_path / "rows.json"
    example.write_text('{"sepal_length": 5.1}')
    result = run_cli(str(artifact), "--example", str(example))
    assert result.returncode == 1
    assert "must hold a non-empty array of rows" in result.stderr


def test_an_example_of_arrays_takes_scikit_learns_names(tmp_path: Path) -> None:
    # Rows as a plain array holds them: no names to invent, x0, x1, ... as scikit-learn's.
    artifact = saved(iris_classifier(named=False), tmp_path / "plain.joblib")
    example = tmp_path / "rows.json"
    example.write_text(json.dumps([SETOSA, [6.7, 3.0, 5.2, 2.3]]))
    result = run_cli(str(artifact), "--example", str(example))
    assert result.returncode == 0, result.stderr
    metadata = json.loads(metadata_path_for(artifact).read_text())
    assert names(metadata) == ["x0", "x1", "x2", "x3"]
    assert metadata["example"][0] == {"x0": 5.1, "x1": 3.5, "x2": 1.4, "x3": 0.2}
    assert metadata["model_input"] == "float64_array"

    named = run_cli(str(artifact), "--example", str(example), "--features", ",".join(IRIS_FEATURES))
    assert named.returncode == 0, named.stderr
    metadata = json.loads(metadata_path_for(artifact).read_text())
    assert names(metadata) == IRIS_FEATURES
    assert metadata["example"][1] == dict(zip(IRIS_FEATURES, [6.7, 3.0, 5.2, 2.3], strict=True))


def test_an_example_of_arrays_keeps_each_values_kind(tmp_path: Path) -> None:
    # Strings beside numbers stay numbers: the model was fitted on an object array.
    rng = np.random.default_rng(0)
    rows = [[float(rng.normal()), str(rng.choice(["a", "b"]))] for _ in range(40)]
    model = make_pipeline(
        ColumnTransformer([("x", "passthrough", [0]), ("c", OneHotEncoder(), [1])]),
        LogisticRegression(),
    ).fit(np.array(rows, dtype=object), [row[1] == "a" for row in rows])
    artifact = saved(model, tmp_path / "mixed.joblib")
    metadata = describe(artifact, example=rows[:3])
    assert [(f["name"], f["type"]) for f in metadata["features"]] == [
        ("x0", "number"), ("x1", "string"),
    ]  # fmt: skip
    assert metadata["model_input"] == "object_array"


@pytest.mark.parametrize(
    ("rows", "options", "fragment"),
    [
        ([[5.1, 3.5, 1.4, 0.2], [6.7, 3.0]], (), "hold different numbers of values ([2, 4])"),
        ([SETOSA], ("--features", "a,b,c"), "hold 4 values, 3 feature names were given"),
        ([SETOSA, {"a": 1}], (), "each an object keyed by feature name"),
    ],
)
def test_an_example_of_arrays_that_does_not_fit_is_one_line(
    tmp_path: Path, rows: list, options: tuple[str, ...], fragment: str
) -> None:
    artifact = saved(iris_classifier(named=False), tmp_path / "plain.joblib")
    example = tmp_path / "rows.json"
    example.write_text(json.dumps(rows))
    result = run_cli(str(artifact), "--example", str(example), *options)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ") and len(result.stderr.splitlines()) == 1
    assert fragment in result.stderr


def test_a_dataframe_example_with_numbered_columns_names_them_as_text(tmp_path: Path) -> None:
    artifact = saved(LinearRegression().fit(SETOSA_ROWS, [1.0, 2.0]), tmp_path / "lr.joblib")
    example = pd.DataFrame(SETOSA_ROWS)  # columns labelled 0, 1, 2, 3
    metadata = describe(artifact, example=example)
    assert names(metadata) == ["0", "1", "2", "3"]
    assert metadata["example"][0] == {"0": 5.1, "1": 3.5, "2": 1.4, "3": 0.2}
