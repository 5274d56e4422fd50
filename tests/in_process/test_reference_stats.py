"""Reference statistics: what they say of rows of known distributions, of the example
models' training rows, in the metadata and through describe's --reference; the files
and rows refused; and the metadata's reader refusing statistics it cannot trust."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import load_iris
from sklearn.dummy import DummyClassifier
from sklearn.linear_model import LinearRegression
from sklearn.model_selection import train_test_split
from support.iris import IRIS_FEATURES
from support.paths import ROOT

from app.core.artifact import metadata_path_for
from app.core.metadata import MetadataError, ModelMetadata
from app.core.reference import (
    MAX_KEY_LENGTH,
    MAX_VALUES,
    QUANTILE_COUNT,
    InvalidReference,
    Reference,
)
from app.core.schema import Feature, Schema
from model.describe import main
from model.examples.churn import SEED, customers
from model.export import Description, ExportError, save_model
from model.reference_stats import ReferenceDataError, reference_statistics

CHURN = ROOT / "model" / "examples" / "churn.joblib"
IRIS = ROOT / "model" / "model.joblib"
# What one string feature's statistics may take at most, written with indent=2 as the
# metadata is: MAX_VALUES keys of up to 16 characters, each with a share, and the rest.
BYTES_PER_STRING_FEATURE = MAX_VALUES * (16 + 30) + 100


def statistics(frame: pd.DataFrame, *features: Feature, data: Any = None) -> dict[str, Any]:
    """The statistics of `data` (else `frame`) for a classifier handed a DataFrame of
    these features, which answers "yes" to every row."""
    schema = Schema(features, "dataframe")
    names = list(schema.names)
    estimator = DummyClassifier(strategy="constant", constant="yes")
    estimator.fit(frame[names], ["yes", "no"] * (len(frame) // 2) + ["yes"] * (len(frame) % 2))
    metadata = ModelMetadata(
        name="m",
        version="1.0.0",
        sha256="0" * 64,
        task="classification",
        schema=schema,
        classes=("no", "yes"),
    )
    return reference_statistics(estimator, metadata, frame if data is None else data).to_document()


def churn() -> tuple[Any, ModelMetadata]:
    return joblib.load(CHURN), ModelMetadata.read(metadata_path_for(CHURN))


def churn_training_rows() -> pd.DataFrame:
    """The rows model/examples/churn.py trains on, split as it splits them."""
    X, y = customers()
    X_train, _, _, _ = train_test_split(X, y, test_size=0.25, random_state=SEED, stratify=y)
    return X_train


# Rows of known distributions.


def test_numbers_have_their_range_and_deciles() -> None:
    rng = np.random.default_rng(1)
    uniform = rng.uniform(0, 100, 100_000)
    counts = rng.integers(0, 11, 100_000).astype(float)
    counts[::10] = np.nan  # a gap makes pandas' integer column float64
    frame = pd.DataFrame({"uniform": uniform, "count": counts})
    document = statistics(
        frame, Feature("uniform"), Feature("count", type="integer", nullable=True)
    )["features"]
    assert document["uniform"]["missing"] == 0.0
    assert document["uniform"]["range"] == [uniform.min(), uniform.max()]
    assert len(document["uniform"]["quantiles"]) == QUANTILE_COUNT
    assert document["uniform"]["quantiles"] == pytest.approx(range(0, 101, 10), abs=0.5)
    assert document["count"]["missing"] == 0.1
    assert document["count"]["range"] == [0.0, 10.0]
    assert document["count"]["quantiles"] == pytest.approx(range(11), abs=1.0)


def test_strings_have_the_shares_of_their_values_among_the_present_ones() -> None:
    # Of every ten rows: five "a", three "b", two "c"; then a quarter as many missing.
    present = ["a"] * 5 + ["b"] * 3 + ["c"] * 2
    values = (present * 300) + [None] * 1000
    frame = pd.DataFrame({"plan": pd.array(values, dtype="str")})
    document = statistics(frame, Feature("plan", type="string", nullable=True))
    plan = document["features"]["plan"]
    assert plan == {"missing": 0.25, "values": {"a": 0.5, "b": 0.3, "c": 0.2}, "other": 0.0}
    assert list(plan["values"]) == ["a", "b", "c"]  # most frequent first
    assert document["predictions"] == {"classes": {"yes": 1.0, "no": 0.0}, "other": 0.0}


def test_many_distinct_strings_keep_the_most_frequent_ones_ties_by_their_text() -> None:
    names = [f"v{i:03d}" for i in range(200)]
    frame = pd.DataFrame({"city": pd.array(names * 3 + ["v199"], dtype="str")})
    document = statistics(frame, Feature("city", type="string"))["features"]["city"]
    assert len(document["values"]) == MAX_VALUES
    # v199 is the most frequent; then 49 of the ties, the first in text order.
    assert list(document["values"]) == ["v199", *names[:49]]
    assert document["values"]["v199"] == round(4 / 601, 8)
    assert document["other"] == pytest.approx(1 - (4 + 49 * 3) / 601, rel=1e-5)
    assert document["other"] > 0


def test_values_too_long_to_be_keys_are_counted_with_the_others() -> None:
    long = ["x" * (MAX_KEY_LENGTH + 1), "y" * (MAX_KEY_LENGTH + 1)]
    frame = pd.DataFrame({"note": pd.array(long * 5 + ["short"] * 10, dtype="str")})
    document = statistics(frame, Feature("note", type="string"))["features"]["note"]
    assert document == {"missing": 0.0, "values": {"short": 0.5}, "other": 0.5}


def test_a_number_missing_in_every_row_has_no_range() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "empty": [np.nan, np.nan]})
    document = statistics(frame, Feature("x"), Feature("empty", nullable=True))
    assert document["features"]["empty"] == {"missing": 1.0}


def test_booleans_are_keyed_as_json_writes_them() -> None:
    frame = pd.DataFrame({"partner": [True, True, True, False] * 25})
    document = statistics(frame, Feature("partner", type="boolean"))["features"]["partner"]
    assert document == {"missing": 0.0, "values": {"true": 0.75, "false": 0.25}, "other": 0.0}
    gaps = pd.DataFrame({"partner": pd.array([True, None, False, True], dtype="boolean")})
    document = statistics(gaps, Feature("partner", type="boolean", nullable=True))
    assert document["features"]["partner"] == {
        "missing": 0.25,
        "values": {"true": 0.666667, "false": 0.333333},
        "other": 0.0,
    }


@pytest.mark.parametrize("dtype", ["datetime64[ns]", "datetime64[us, UTC]"])
def test_date_times_have_their_missing_share_only(dtype: str) -> None:
    texts = ["2024-01-01T10:00", None, "2024-03-01T00:00", "2024-05-01T12:30"]
    when = pd.Series(pd.to_datetime(texts))
    if "UTC" in dtype:
        when = when.dt.tz_localize("Europe/Lisbon")
    frame = pd.DataFrame({"when": when.astype(dtype), "x": [1.0, 2.0, 3.0, 4.0]})
    document = statistics(frame, Feature("when", "datetime", True, dtype=dtype), Feature("x"))
    assert document["features"]["when"] == {"missing": 0.25}


def test_the_same_rows_in_another_order_give_the_same_statistics() -> None:
    rows = churn_training_rows()
    estimator, metadata = churn()
    shuffled = rows.sample(frac=1.0, random_state=3)
    first = reference_statistics(estimator, metadata, rows).to_document()
    again = reference_statistics(estimator, metadata, shuffled).to_document()
    assert json.dumps(first) == json.dumps(again)


def test_the_size_depends_on_the_features_not_the_rows() -> None:
    rng = np.random.default_rng(5)

    def sized(rows: int) -> int:
        letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz"), (rows, 12))
        frame = pd.DataFrame(
            {
                "id": pd.array(["".join(row) for row in letters], dtype="str"),
                "group": pd.array(rng.choice([f"g{i}" for i in range(500)], rows), dtype="str"),
                "x": rng.normal(size=rows),
            }
        )
        features = (Feature("id", "string"), Feature("group", "string"), Feature("x"))
        document = statistics(frame, *features)
        assert len(document["features"]["id"]["values"]) == MAX_VALUES
        return len(json.dumps(document, indent=2))

    small, large = sized(10_000), sized(100_000)
    assert small < 3 * BYTES_PER_STRING_FEATURE and large < 3 * BYTES_PER_STRING_FEATURE
    assert abs(large - small) < 0.1 * small


# The example models.


def test_the_churn_example_carries_the_statistics_of_its_training_rows() -> None:
    estimator, metadata = churn()
    rows = churn_training_rows()
    assert metadata.reference == reference_statistics(estimator, metadata, rows)
    assert metadata.reference is not None and metadata.reference.rows == len(rows)
    predictions = metadata.reference.predictions
    assert predictions is not None and predictions.shares is not None
    direct = pd.Series(estimator.predict(rows)).value_counts(normalize=True)
    assert predictions.shares.values == pytest.approx(direct.to_dict(), abs=1e-6)


def test_many_rows_are_answered_in_chunks_with_the_estimators_own_answers() -> None:
    estimator, metadata = churn()
    rows, _ = customers(rows=250_000, seed=11)
    document = reference_statistics(estimator, metadata, rows).to_document()
    direct = pd.Series(estimator.predict(rows)).value_counts(normalize=True)
    assert document["predictions"]["classes"] == pytest.approx(direct.to_dict(), rel=1e-5)
    assert document["features"]["support_calls"]["missing"] == pytest.approx(0.05, abs=0.005)


def test_the_iris_model_answers_each_class_for_a_third_of_its_flowers() -> None:
    iris = load_iris()
    frame = pd.DataFrame(iris.data, columns=IRIS_FEATURES)
    metadata = ModelMetadata.read(metadata_path_for(IRIS))
    reference = reference_statistics(joblib.load(IRIS), metadata, frame)
    assert reference.predictions is not None and reference.predictions.shares is not None
    shares = reference.predictions.shares
    assert set(shares.values) == {"setosa", "versicolor", "virginica"}
    assert shares.values == pytest.approx(dict.fromkeys(shares.values, 1 / 3), abs=0.05)
    assert reference.features["petal_length"].low == 1.0
    assert reference.features["petal_length"].high == 6.9


def regression_rows(rows: int = 1000) -> tuple[pd.DataFrame, np.ndarray]:
    x = np.random.default_rng(2).uniform(0, 10, rows)
    return pd.DataFrame({"x": x}), 2 * x + 1


def test_a_regressors_answers_have_their_deciles(tmp_path: Path) -> None:
    frame, y = regression_rows()
    model = LinearRegression().fit(frame, y)
    metadata = save_model(
        model, tmp_path / "lr.joblib", Description("lr", "1.0.0"), frame.head(5), reference=frame
    )
    quantiles = metadata["reference"]["predictions"]["quantiles"]
    expected = np.quantile(2 * frame["x"].to_numpy() + 1, np.linspace(0, 1, QUANTILE_COUNT))
    assert quantiles == pytest.approx(expected, rel=1e-5)
    assert metadata["reference"]["predictions"] == {"quantiles": quantiles}


def test_several_targets_and_clusters_keep_no_answers(tmp_path: Path) -> None:
    frame, y = regression_rows()
    two = LinearRegression().fit(frame, np.column_stack([y, -y]))
    clusters = KMeans(n_clusters=2, n_init=1, random_state=0).fit(frame)
    for name, model in (("two", two), ("clusters", clusters)):
        metadata = save_model(
            model, tmp_path / f"{name}.joblib", Description(name, "1.0.0"), frame.head(3),
            reference=frame,
        )  # fmt: skip
        assert metadata["reference"]["predictions"] is None
        assert metadata["reference"]["features"]["x"]["range"] == [
            frame["x"].min(), frame["x"].max(),
        ]  # fmt: skip


def test_the_metadata_keeps_them_and_reads_them_back(tmp_path: Path) -> None:
    frame, y = regression_rows()
    artifact = tmp_path / "lr.joblib"
    written = save_model(
        LinearRegression().fit(frame, y), artifact, Description("lr", "1.0.0"), reference=frame
    )
    read = ModelMetadata.read(metadata_path_for(artifact))
    assert read.reference is not None
    assert read.reference.to_document() == written["reference"]
    assert read.reference == Reference.from_document(
        written["reference"], read.schema, read.task == "classification"
    )
    assert read.to_document() == written


# Reference data the schema or the model refuses, in Python.


def test_a_missing_column_is_named() -> None:
    estimator, metadata = churn()
    with pytest.raises(ReferenceDataError, match="no column 'contract'; the model's features are"):
        reference_statistics(estimator, metadata, churn_training_rows().drop(columns="contract"))


def test_a_row_the_schema_refuses_is_named() -> None:
    estimator, metadata = churn()
    rows = churn_training_rows().reset_index(drop=True)
    rows.loc[3, "contract"] = "lifetime"
    with pytest.raises(
        ReferenceDataError,
        match=r"reference row reference\[3\]\.contract: unknown category \"lifetime\"",
    ):
        reference_statistics(estimator, metadata, rows)


def test_save_model_writes_nothing_for_rows_the_schema_refuses(tmp_path: Path) -> None:
    frame, y = regression_rows()
    artifact = tmp_path / "lr.joblib"
    gap = frame.copy()
    gap.loc[5, "x"] = np.nan
    with pytest.raises(ExportError, match=r"reference row reference\[5\]\.x: expected a number"):
        save_model(
            LinearRegression().fit(frame, y), artifact, Description("lr", "1.0.0"), reference=gap
        )
    assert list(tmp_path.iterdir()) == []


def test_row_objects_are_read_as_a_request_is() -> None:
    estimator, metadata = churn()
    frame = churn_training_rows()
    rows = json.loads(frame.to_json(orient="records"))
    expected = reference_statistics(estimator, metadata, frame)
    assert reference_statistics(estimator, metadata, rows) == expected
    del rows[2]["tenure_months"]
    with pytest.raises(ReferenceDataError, match=r"reference\[2\]\.tenure_months: missing feature"):
        reference_statistics(estimator, metadata, rows)


# describe's --reference, from each kind of file.


@pytest.fixture
def described_churn(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the churn artifact, and an example file to describe it with."""
    artifact = tmp_path / "churn.joblib"
    shutil.copy(CHURN, artifact)
    example = tmp_path / "example.json"
    example.write_text(churn_training_rows().head(5).to_json(orient="records"))
    return artifact, example


def write_rows(frame: pd.DataFrame, path: Path) -> Path:
    if path.suffix == ".csv":
        frame.to_csv(path, index=False)
    elif path.suffix == ".parquet":
        frame.to_parquet(path)
    else:
        frame.to_json(path, orient="records", lines=path.suffix == ".jsonl")
    return path


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".json", ".jsonl"])
def test_describe_reads_each_kind_of_reference_file(
    described_churn: tuple[Path, Path], suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    artifact, example = described_churn
    rows = churn_training_rows().reset_index(drop=True)
    # Strings that a reader left to guess would take for missing values, or a number.
    rows.loc[0, "payment_method"] = "NA"
    rows.loc[1, "payment_method"] = "None"
    rows.loc[2, "payment_method"] = "12"
    reference = write_rows(rows, artifact.with_name(f"train{suffix}"))
    main([str(artifact), "--example", str(example), "--reference", str(reference)])
    metadata = json.loads(metadata_path_for(artifact).read_text())
    estimator, described = churn()
    assert metadata["reference"] == reference_statistics(estimator, described, rows).to_document()
    payments = metadata["reference"]["features"]["payment_method"]["values"]
    assert {"NA", "None", "12"} <= set(payments)
    added = len(json.dumps(metadata, indent=2)) - len(
        json.dumps({**metadata, "reference": None}, indent=2)
    )
    assert f"reference statistics of {len(rows)} row(s), adding {added} bytes" in (
        capsys.readouterr().out
    )


def refused(argv: list[str]) -> str:
    """The one line describe exits with."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    message = exit_info.value.code
    assert isinstance(message, str) and message.startswith("error: ")
    assert len(message.splitlines()) == 1
    return message


def bad_reference_files(folder: Path) -> list[tuple[Path, str]]:
    rows = churn_training_rows().reset_index(drop=True)
    unknown = rows.copy()
    unknown.loc[7, "contract"] = "lifetime"
    not_a_number = rows.astype({"tenure_months": object})
    not_a_number.loc[4, "tenure_months"] = "twelve"
    (folder / "empty.csv").touch()
    (folder / "broken.parquet").write_bytes(b"not parquet")
    (folder / "header.csv").write_text(",".join(rows.columns) + "\n")
    (folder / "object.json").write_text('{"tenure_months": 3}')
    return [
        (write_rows(rows, folder / "rows.txt"), "a reference file is .csv, .parquet"),
        (folder / "absent.csv", "cannot read the reference file: No such file or directory"),
        (folder / "empty.csv", "the reference file is empty"),
        (folder / "header.csv", "the reference file holds no rows"),
        (folder / "broken.parquet", "not a readable Parquet file"),
        (folder / "object.json", "holds an array of row objects"),
        (
            write_rows(rows.drop(columns="contract"), folder / "no_contract.csv"),
            "the reference data has no column 'contract'",
        ),
        (
            write_rows(rows.drop(columns="contract"), folder / "no_contract.jsonl"),
            "the reference rows have no member 'contract'",
        ),
        (
            write_rows(unknown, folder / "unknown.parquet"),
            'reference row reference[7].contract: unknown category "lifetime"',
        ),
        (
            write_rows(not_a_number, folder / "not_a_number.csv"),
            "reference row reference[4].tenure_months: expected an integer, got 'twelve'",
        ),
    ]


def test_each_reference_file_refused_is_one_line_naming_it(
    described_churn: tuple[Path, Path],
) -> None:
    artifact, example = described_churn
    for path, fragment in bad_reference_files(artifact.parent):
        message = refused([str(artifact), "--example", str(example), "--reference", str(path)])
        assert message.startswith(f"error: {path}: ") and fragment in message, message
        assert not metadata_path_for(artifact).exists()


def test_a_refused_reference_file_ends_describe_without_a_traceback(
    described_churn: tuple[Path, Path],
) -> None:
    artifact, example = described_churn
    rows = churn_training_rows().reset_index(drop=True)
    rows.loc[7, "contract"] = "lifetime"
    reference = write_rows(rows, artifact.with_name("train.csv"))
    result = subprocess.run(
        [sys.executable, "-m", "model.describe", str(artifact), "--example", str(example),
         "--reference", str(reference)],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.startswith(f"error: {reference}: reference row reference[7].contract")
    assert len(result.stderr.splitlines()) == 1


# The metadata's reader refuses statistics it cannot trust, naming the member at fault.


def churn_reference() -> tuple[dict[str, Any], Schema]:
    _, metadata = churn()
    assert metadata.reference is not None
    return metadata.reference.to_document(), metadata.schema


def spoiled(change: str) -> dict[str, Any]:
    document, _ = churn_reference()
    features = document["features"]
    if change == "features":
        features.pop("contract")
    elif change == "order":
        document["features"] = dict(reversed(features.items()))
    elif change == "descending":
        features["monthly_charges"]["quantiles"][3] = 1000.0
    elif change == "count":
        features["monthly_charges"]["quantiles"].pop()
    elif change == "share":
        features["contract"]["values"]["one-year"] = 1.5
    elif change == "nan":
        features["support_calls"]["missing"] = math.nan
    elif change == "nan_quantile":
        features["tenure_months"]["quantiles"][0] = math.nan
    elif change == "values":
        features["payment_method"]["values"] = {f"p{i}": 0.01 for i in range(MAX_VALUES + 1)}
    elif change == "range":
        features["tenure_months"]["range"] = [72.0, 1.0]
    elif change == "rows":
        document["rows"] = 0
    elif change == "classes":
        document["predictions"]["other"] = -0.1
    elif change == "sum":
        features["contract"]["values"]["one-year"] = 0.9
    elif change == "long":
        features["contract"]["values"]["x" * (MAX_KEY_LENGTH + 1)] = 0.0
    elif change == "deciles":
        document["predictions"] = {"quantiles": [float(q) for q in range(11)]}
    elif change == "both":
        document["predictions"]["quantiles"] = [float(q) for q in range(11)]
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("features", "'reference.features' must have one member per feature"),
        ("order", "'reference.features' must have one member per feature, in the schema's order"),
        ("descending", "'reference.features.monthly_charges.quantiles' must be 11 finite numbers"),
        ("count", "'reference.features.monthly_charges.quantiles' must be 11 finite numbers"),
        ("share", "'reference.features.contract.values.one-year' must be a share from 0 to 1"),
        ("nan", "'reference.features.support_calls.missing' must be a share from 0 to 1"),
        ("nan_quantile", "'reference.features.tenure_months.quantiles' must be 11 finite"),
        ("values", "'reference.features.payment_method.values' must be an object of at most 50"),
        ("range", "'reference.features.tenure_months.range' must be [lowest, highest]"),
        ("rows", "'reference.rows' must be a positive integer"),
        ("classes", "'reference.predictions.other' must be a share from 0 to 1"),
        ("sum", "'reference.features.contract.values' and 'other' must sum to 1, got 1.65"),
        ("long", "'reference.features.contract.values' must be an object of at most 50"),
        ("deciles", "'reference.predictions' of a classifier must hold 'classes' and 'other'"),
        ("both", "'reference.predictions' of a classifier must hold 'classes' and 'other'"),
    ],
)
def test_the_reader_refuses_statistics_it_cannot_trust(change: str, message: str) -> None:
    _, schema = churn_reference()
    with pytest.raises(InvalidReference) as refusal:
        Reference.from_document(spoiled(change), schema, classifier=True)
    assert str(refusal.value).startswith(message)
    metadata = json.loads(metadata_path_for(CHURN).read_text())
    with pytest.raises(MetadataError, match="model metadata invalid") as invalid:
        ModelMetadata.from_document({**metadata, "reference": spoiled(change)}, source="m.json")
    assert message in str(invalid.value)
