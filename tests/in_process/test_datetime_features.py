"""Date-time features: a DataFrame pipeline whose own transformer reads `.dt` parts, described
and served through every protocol, with its column's unit and time zone.

The model answers the hour (in its column's zone) plus ten per day of the week, so each
answer says exactly which instant the model was handed: the time-zone rule is checked
by what the model saw, not only by what the server says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import pandas as pd
import pytest
from date_features import DateParts, hour_and_day, visits
from flask import Flask
from flask.testing import FlaskClient
from pandas.errors import Pandas4Warning
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression
from sklearn.pipeline import make_pipeline
from support.paths import ROOT, TESTS
from support.v2_tensors import binary_input, infer_path, json_input, read_answer
from test_openapi import call, check_response, openapi, request_is_valid

from app.core.datetimes import DatetimeColumn
from app.core.metadata import MetadataError, ModelMetadata
from app.core.model_input import to_model_input
from app.core.schema import Feature, Schema, SchemaError
from app.core.validation import Problems, validate_rows
from model.describe import summary
from model.export import Description, save_model

# The user's own transformer: it ships with the model as its code archive.
DATE_PARTS = TESTS / "date_features.py"
NAIVE = "datetime64[us]"
UTC = "datetime64[ns, UTC]"
# 2024-05-01 is a Wednesday (day 2), 2024-05-04 a Saturday (day 5).
WEDNESDAY, SATURDAY = 2, 5
NO_OFFSET = (
    "missing an offset (Z or ±hh:mm): this feature's times are in UTC, and a time without "
    "one could be in any zone"
)
NOT_ISO = "not an ISO 8601 date or date-time (2024-05-01, 2024-05-01T13:45:00, with Z or +02:00)"
NOT_A_STRING = "expected an ISO 8601 date-time string, got a number"


def pipeline(nullable: bool) -> Any:
    """The date parts, imputed when a visit's time may be missing, then a linear model."""
    dates: Any = make_pipeline(DateParts(), SimpleImputer()) if nullable else DateParts()
    return make_pipeline(
        ColumnTransformer([("amount", "passthrough", ["amount"]), ("when", dates, ["when"])]),
        LinearRegression(),
    )


def trained(folder: Path, dtype: str, nullable: bool) -> Path:
    frame, target = visits(300, dtype)
    model = pipeline(nullable).fit(frame, target)
    artifact = folder / "visits.joblib"
    save_model(
        model, artifact, Description("visits", "1.0.0"), example=frame.head(8), code=[DATE_PARTS]
    )
    return artifact


@pytest.fixture(scope="module")
def naive_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A naive datetime64[us] column; a missing time is imputed."""
    return trained(tmp_path_factory.mktemp("naive"), NAIVE, nullable=True)


@pytest.fixture(scope="module")
def utc_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A zone-aware datetime64[ns, UTC] column; a time must be given."""
    return trained(tmp_path_factory.mktemp("utc"), UTC, nullable=False)


@pytest.fixture
def naive(make_app: Callable[..., Flask], naive_model: Path) -> FlaskClient:
    return served(make_app, naive_model)


@pytest.fixture
def utc(make_app: Callable[..., Flask], utc_model: Path) -> FlaskClient:
    return served(make_app, utc_model)


def served(make_app: Callable[..., Flask], artifact: Path) -> FlaskClient:
    client = make_app(MODEL_URI=str(artifact)).test_client()
    health = client.get("/health")
    assert health.status_code == 200, health.get_json()
    return client


def predictions(client: FlaskClient, whens: list[Any]) -> list[float]:
    rows = [{"amount": 40.0, "when": when} for when in whens]
    response = client.post("/predict", json={"instances": rows})
    assert response.status_code == 200, response.get_json()
    return response.get_json()["predictions"]


def refusals(client: FlaskClient, path: str, status: int, **body: Any) -> dict[str, str]:
    response = client.post(path, **body)
    assert response.status_code == status, response.get_data(as_text=True)
    answer = response.get_json()
    error = answer.get("error")  # native: an object; V2: a string beside the details
    found = error["details"] if isinstance(error, dict) else answer["details"]
    return {detail["loc"]: detail["msg"] for detail in found}


# What describe records and says


def test_describe_records_the_columns_unit_and_zone(naive: FlaskClient, utc: FlaskClient) -> None:
    for client, dtype, nullable in ((naive, NAIVE, True), (utc, UTC, False)):
        described = client.get("/model").get_json()
        assert described["model_input"] == "dataframe"
        assert described["features"][1] == {
            "name": "when", "type": "datetime", "nullable": nullable, "dtype": dtype,
        }  # fmt: skip
    # The example keeps each instant exactly, with its offset for a zone-aware column.
    first = visits(300, NAIVE)[0]["when"][0]
    assert naive.get("/model").get_json()["example"][0]["when"] == first.isoformat()
    zoned = utc.get("/model").get_json()["example"][0]["when"]
    assert zoned == first.tz_localize("UTC").isoformat() and zoned.endswith("+00:00")


def test_the_summary_shows_the_zone(naive_model: Path, utc_model: Path) -> None:
    lines = {
        path: summary(json.loads(path.with_suffix(".json").read_text())).splitlines()
        for path in (naive_model, utc_model)
    }
    assert lines[naive_model][2].split() == ["when", "datetime;", "may", "be", "null"]
    assert lines[utc_model][2].split() == ["when", "datetime", "(UTC)"]


# The time-zone rule, as the model sees it


def test_a_naive_column_takes_a_time_as_written(naive: FlaskClient) -> None:
    assert (
        predictions(
            naive,
            [
                "2024-05-01T13:45:00",
                "2024-05-01 13:45",
                "2024-05-04",  # a date alone is its midnight
                "2024-05-01T13:45:00.250",
                None,  # missing: NaT, which the pipeline imputes
            ],
        )[:4]
        == pytest.approx(
            [hour_and_day(13, WEDNESDAY)] * 2
            + [hour_and_day(0, SATURDAY), hour_and_day(13, WEDNESDAY)]
        )
    )


def test_a_naive_column_converts_an_offset_to_utc(naive: FlaskClient) -> None:
    # 01:30 on Saturday at +02:00 is 23:30 on Friday in UTC.
    answers = predictions(
        naive, ["2024-05-01T13:45:00Z", "2024-05-01T13:45:00+02:00", "2024-05-04T01:30:00+02:00"]
    )
    assert answers == pytest.approx(
        [hour_and_day(13, WEDNESDAY), hour_and_day(11, WEDNESDAY), hour_and_day(23, 4)]
    )


def test_a_zoned_column_converts_an_offset_to_its_zone(utc: FlaskClient) -> None:
    answers = predictions(utc, ["2024-05-01T13:45:00Z", "2024-05-01T13:45:00-03:00"])
    assert answers == pytest.approx([hour_and_day(13, WEDNESDAY), hour_and_day(16, WEDNESDAY)])


def test_values_are_refused_at_their_place(naive: FlaskClient, utc: FlaskClient) -> None:
    rows = [
        {"amount": 40.0, "when": "2024-05-01T13:45:00"},  # no offset: any zone
        {"amount": 40.0, "when": "yesterday"},
        {"amount": 40.0, "when": 1714571100000},  # epoch milliseconds are not a date-time
        [40.0, "2024-02-30T10:00:00Z"],
        [40.0, None],
    ]
    assert refusals(utc, "/predict", 422, json={"instances": rows}) == {
        "instances[0].when": f'"2024-05-01T13:45:00" is {NO_OFFSET}',
        "instances[1].when": f'"yesterday" is {NOT_ISO}',
        "instances[2].when": NOT_A_STRING,
        "instances[3][1]": (
            '"2024-02-30T10:00:00Z" is not a valid date-time: day is out of range for month'
        ),
        "instances[4][1]": (
            "expected an ISO 8601 date-time string, got null; this feature cannot be missing"
        ),
    }
    # Beyond what the column holds: its unit's precision, and its range (2300 is within a
    # microsecond column's, beyond a nanosecond one's).
    beyond = [
        {"amount": 1.0, "when": "2024-05-01T13:45:00.1234567"},
        {"amount": 1.0, "when": "2300-01-01"},
    ]
    assert refusals(naive, "/predict", 422, json={"instances": beyond}) == {
        "instances[0].when": (
            '"2024-05-01T13:45:00.1234567" is more precise than this feature\'s '
            "datetime64[us] column holds (microseconds)"
        ),
    }
    far = [{"amount": 1.0, "when": "2300-01-01T00:00:00Z"}]
    assert refusals(utc, "/predict", 422, json={"instances": far}) == {
        "instances[0].when": (
            '"2300-01-01T00:00:00Z" is beyond the dates a datetime64[ns, UTC] column holds '
            "(1677-09-21 to 2262-04-11)"
        )
    }


# MLflow: JSON strings in every input format, and CSV fields


def test_mlflow_json_and_csv(naive: FlaskClient) -> None:
    whens = ["2024-05-01T13:45:00", "2024-05-04T01:30:00+02:00"]
    expected = predictions(naive, whens)
    frame = pd.DataFrame({"amount": [40.0, 40.0], "when": whens})
    bodies = [
        {"dataframe_split": frame.to_dict(orient="split", index=False)},
        {"dataframe_records": frame.to_dict(orient="records")},
        {"instances": frame.values.tolist()},
        {"inputs": frame.to_dict(orient="list")},
    ]
    for body in bodies:
        response = naive.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.get_json())
        assert response.get_json()["predictions"] == pytest.approx(expected)
    csv = frame.to_csv(index=False)
    response = naive.post("/invocations", data=csv, content_type="text/csv")
    assert response.get_json()["predictions"] == pytest.approx(expected)


def test_mlflow_refuses_at_the_place_in_its_body(utc: FlaskClient) -> None:
    split = {"columns": ["when", "amount"], "data": [["2024-05-01T13:45:00", 1.0]]}
    assert refusals(utc, "/invocations", 400, json={"dataframe_split": split}) == {
        "dataframe_split.data[0][0]": f'"2024-05-01T13:45:00" is {NO_OFFSET}'
    }
    csv = "amount,when\n1.0,2024-05-01T13:45:00Z\n2.0,13:45\n"
    assert refusals(utc, "/invocations", 400, data=csv, content_type="text/csv") == {
        "csv[1].when": f'"13:45" is {NOT_ISO}'
    }


# V2: a BYTES input of ISO 8601 text, in JSON and in binary


def test_v2_metadata_names_the_content_type(naive: FlaskClient) -> None:
    inputs = naive.get("/v2/models/visits").get_json()["inputs"]
    assert inputs == [
        {"name": "amount", "datatype": "FP64", "shape": [-1]},
        {
            "name": "when",
            "datatype": "BYTES",
            "shape": [-1],
            "parameters": {"content_type": "datetime"},
        },
    ]


def test_v2_json_and_binary_bytes(utc: FlaskClient) -> None:
    whens = ["2024-05-01T13:45:00Z", "2024-05-04T01:30:00+02:00"]
    expected = predictions(utc, whens)
    amounts = json_input("amount", "FP64", [2], [40.0, 40.0])
    body = {"inputs": [amounts, json_input("when", "BYTES", [2], whens)]}
    response = utc.post(infer_path("visits"), json=body)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outputs"][0]["data"] == pytest.approx(expected)

    blob = binary_input("when", "BYTES", [2, 1], whens)
    header = json.dumps({"inputs": [amounts, blob.tensor]}).encode()
    response = utc.post(
        infer_path("visits"),
        data=header + blob.blob,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = read_answer(response.get_data(), response.headers)
    assert answer["outputs"][0]["data"] == pytest.approx(expected)


def test_v2_refuses_at_the_place_in_its_body(utc: FlaskClient) -> None:
    amounts = json_input("amount", "FP64", [1], [40.0])
    wrong_type = {"inputs": [amounts, json_input("when", "FP64", [1], [1714571100.0])]}
    assert refusals(utc, infer_path("visits"), 400, json=wrong_type) == {
        "inputs[1].datatype": "when is a datetime feature: expected BYTES"
    }
    blob = binary_input("when", "BYTES", [1], ["2024-05-01T13:45:00"])
    header = json.dumps({"inputs": [amounts, blob.tensor]}).encode()
    refused = refusals(
        utc,
        infer_path("visits"),
        400,
        data=header + blob.blob,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert refused == {"inputs[1].data[0]": f'"2024-05-01T13:45:00" is {NO_OFFSET}'}
    # Bytes that are not text are said to be so, once, and not also a missing date-time.
    blob = binary_input("when", "BYTES", [1], [b"\xff2024-05-01"])
    header = json.dumps({"inputs": [amounts, blob.tensor]}).encode()
    response = utc.post(
        infer_path("visits"),
        data=header + blob.blob,
        headers={"Inference-Header-Content-Length": str(len(header))},
    )
    assert response.status_code == 400
    assert [(d["loc"], d["msg"]) for d in response.get_json()["details"]] == [
        ("inputs[1].data[0]", "expected UTF-8 text")
    ]


# The OpenAPI document


def test_the_document_says_date_time(utc: FlaskClient) -> None:
    doc = utc.get("/openapi.json").get_json()
    spec = openapi(doc)
    when = doc["components"]["schemas"]["RowObject"]["properties"]["when"]
    assert (when["type"], when["format"]) == ("string", "date-time")
    assert "must have an offset" in when["description"]
    for path, body in (
        ("/predict", {"features": {"amount": 40.0, "when": "2024-05-01T13:45:00+02:00"}}),
        ("/invocations", {"inputs": {"amount": [1.0], "when": ["2024-05-01T13:45:00Z"]}}),
    ):
        exchange = call(utc, "POST", path, json=body)
        assert exchange.response.status_code == 200, exchange.response.get_json()
        assert request_is_valid(spec, exchange)
        check_response(spec, exchange)
    # The pattern writes the forms the server reads: a CSV field fits it, a time alone not.
    fits = call(utc, "POST", "/invocations", data="amount,when\n1,2024-05-01T13:45Z\n",
                content_type="text/csv")  # fmt: skip
    assert fits.response.status_code == 200 and request_is_valid(spec, fits)
    alone = call(utc, "POST", "/invocations", data="amount,when\n1,13:45Z\n",
                 content_type="text/csv")  # fmt: skip
    assert alone.response.status_code == 400 and not request_is_valid(spec, alone)


# describe from JSON, as a user runs it


def run_describe(artifact: Path, example: Path) -> subprocess.CompletedProcess[str]:
    # The pickle names date_features, the user's own module: it ships as the model's code.
    arguments = [str(artifact), "--example", str(example), "--code", str(DATE_PARTS)]
    return subprocess.run(
        [sys.executable, "-m", "model.describe", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def undescribed(folder: Path, dtype: str) -> tuple[pd.DataFrame, Path]:
    frame, target = visits(200, dtype)
    artifact = folder / "visits.joblib"
    joblib.dump(pipeline(nullable=False).fit(frame, target), artifact)
    return frame, artifact


@pytest.mark.parametrize(("dtype", "shown"), [(NAIVE, "datetime"), (UTC, "datetime (UTC)")])
def test_describe_from_a_json_example_written_with_iso_dates(
    tmp_path: Path, dtype: str, shown: str
) -> None:
    frame, artifact = undescribed(tmp_path, dtype)
    example = tmp_path / "rows.json"
    frame.head(5).to_json(example, orient="records", date_format="iso")
    result = run_describe(artifact, example)
    assert result.returncode == 0, result.stderr
    features = {line.split(maxsplit=1)[0]: line.split(maxsplit=1)[1] for line in
                result.stdout.splitlines() if line.startswith("  ")}  # fmt: skip
    assert features == {"amount": "number", "when": shown}
    metadata = json.loads(artifact.with_suffix(".json").read_text())
    # JSON keeps an offset, never a zone: a zone-aware column is served in UTC.
    expected = "datetime64[us, UTC]" if dtype == UTC else "datetime64[us]"
    assert metadata["features"][1]["dtype"] == expected


def test_describe_an_example_of_epoch_milliseconds_says_how_to_write_it(tmp_path: Path) -> None:
    frame, artifact = undescribed(tmp_path, NAIVE)
    example = tmp_path / "rows.json"
    # What a user writes first: pandas' default, epoch milliseconds (with its warning).
    with pytest.warns(Pandas4Warning, match="date_format"):
        frame.head(5).to_json(example, orient="records")
    result = run_describe(artifact, example)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("error: the model fails on its example rows: AttributeError")
    assert (
        "example column when holds integers that look like dates written as epoch milliseconds"
        in result.stderr
    )
    assert 'df.to_json(..., orient="records", date_format="iso")' in result.stderr
    assert not artifact.with_suffix(".json").exists()


def test_a_pipeline_starting_with_the_users_transformer_is_handed_a_dataframe(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    # DateParts records no column names, so the pipeline looks fitted on an array; a
    # datetime64 column says otherwise: only a DataFrame carries one.
    frame, target = visits(200, UTC)
    model = make_pipeline(DateParts(), LinearRegression()).fit(frame[["when"]], target)
    assert not hasattr(model, "feature_names_in_")
    artifact = tmp_path / "dates.joblib"
    metadata = save_model(
        model, artifact, Description("dates", "1.0.0"), frame[["when"]].head(5), code=[DATE_PARTS]
    )
    assert metadata["model_input"] == "dataframe"
    assert metadata["features"] == [
        {"name": "when", "type": "datetime", "nullable": False, "dtype": UTC}
    ]
    client = served(make_app, artifact)
    response = client.post("/predict", json={"features": {"when": "2024-05-04T01:30:00+02:00"}})
    assert response.get_json()["prediction"] == pytest.approx(hour_and_day(23, 4))

    # From JSON: the array fails in DateParts, and a DataFrame of the example answers once
    # its ISO 8601 strings are read as date-times (in UTC: JSON keeps offsets, not zones).
    joblib.dump(model, artifact)
    example = tmp_path / "rows.json"
    frame[["when"]].head(5).to_json(example, orient="records", date_format="iso")
    result = run_describe(artifact, example)
    assert result.returncode == 0, result.stderr
    described = json.loads(artifact.with_suffix(".json").read_text())
    assert described["model_input"] == "dataframe"
    assert [(f["type"], f["dtype"]) for f in described["features"]] == [
        ("datetime", "datetime64[us, UTC]")
    ]
    client = served(make_app, artifact)
    response = client.post("/predict", json={"features": {"when": "2024-05-04T01:30:00+02:00"}})
    assert response.get_json()["prediction"] == pytest.approx(hour_and_day(23, 4))


# The schema and the column, without a model


def test_only_a_dataframe_model_takes_a_datetime_feature() -> None:
    when = Feature("when", "datetime", dtype=NAIVE)
    for model_input in ("float64_array", "object_array"):
        with pytest.raises(SchemaError, match=r"datetime features \(when\) need a model handed"):
            Schema((Feature("x"), when), model_input)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("dtype", "fragment"),
    [
        ("datetime64[D]", "is not a datetime64 dtype"),
        ("datetime64[ns, Mars/Olympus]", "'Mars/Olympus' is not a time zone this server knows"),
        ("float64", "is not a datetime64 dtype"),
    ],
)
def test_metadata_with_a_column_the_server_cannot_build_is_refused(
    naive_model: Path, dtype: str, fragment: str
) -> None:
    document = json.loads(naive_model.with_suffix(".json").read_text())
    document["features"][1]["dtype"] = dtype
    with pytest.raises(MetadataError, match=rf"features\[1\] \(when\): .*{fragment}"):
        ModelMetadata.from_document(document, source="test")


@pytest.mark.parametrize(
    ("dtype", "text", "expected"),
    [
        # A zone-aware column: the instant, shown in the column's zone.
        ("datetime64[s, Europe/Lisbon]", "2024-07-01T12:00:00Z", "2024-07-01T13:00:00+01:00"),
        ("datetime64[ms, UTC+02:00]", "2024-01-01T00:00:00.5-01:00", "2024-01-01T03:00:00.5+02:00"),
        # A naive one: as written, or converted to UTC when it has an offset.
        ("datetime64[ns]", "1999-12-31T23:59:59.123456789", "1999-12-31T23:59:59.123456789"),
        ("datetime64[s]", "2024-03-10t02:30-05:00", "2024-03-10T07:30:00"),
    ],
)  # fmt: skip
def test_a_value_becomes_the_columns_instant(dtype: str, text: str, expected: str) -> None:
    schema = Schema((Feature("when", "datetime", dtype=dtype),), "dataframe")
    problems = Problems()
    rows = validate_rows([[text]], lambda index: f"rows[{index}]", schema, problems)
    assert not problems, problems.details()
    column = to_model_input(rows, schema)["when"]
    assert str(column.dtype) == dtype
    assert column[0] == pd.Timestamp(expected)
    assert column[0].isoformat() == pd.Timestamp(expected).isoformat()


def test_the_zone_rule_says_what_happens_to_an_offset() -> None:
    assert DatetimeColumn.of(NAIVE).rule() == (
        "The column has no time zone: a value is taken as written; one with an offset is "
        "converted to UTC and the offset dropped."
    )
    assert DatetimeColumn.of("datetime64[us, Asia/Tokyo]").rule() == (
        "The column's times are in Asia/Tokyo: a value must have an offset (Z or ±hh:mm), "
        "and is converted to Asia/Tokyo."
    )
