"""Every kind of tabular pipeline a user brings is described, proven and served.

Each model is trained here on generated data, saved with an example, then served by
the app: a valid request is answered, a wrong value is a 422 at its place, and the
OpenAPI document describes exactly what the model takes and answers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from flask import Flask
from flask.testing import FlaskClient
from openapi_core import OpenAPI
from openapi_spec_validator import validate
from sklearn.cluster import KMeans
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier, IsolationForest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.multioutput import MultiOutputClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from support.paths import ROOT
from test_openapi import call, check_response

import app.core.predictor
from app.core.artifact import metadata_path_for
from model.describe import describe
from model.export import Description, ExportError, save_model

CHURN = ROOT / "model" / "examples" / "churn.joblib"
CITIES = ["lisbon", "oslo", "porto"]
PLANS = ["basic", "pro"]
RNG_SEED = 3


def frame(rows: int = 300) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(RNG_SEED)
    data = pd.DataFrame(
        {
            "age": rng.integers(18, 80, rows),
            "income": rng.normal(50, 10, rows),
            "city": pd.array(rng.choice(CITIES, rows), dtype="str"),
            "plan": pd.array(rng.choice(PLANS, rows), dtype="str"),
        }
    )
    target = np.where((data["income"] > 50) ^ (data["city"] == "oslo"), "yes", "no")
    return data, target


def saved(tmp_path: Path, estimator: Any, example: Any, **description: Any) -> Path:
    artifact = tmp_path / "model.joblib"
    save_model(estimator, artifact, Description("typed", "1.0.0", **description), example)
    return artifact


def served(make_app: Callable[..., Flask], artifact: Path) -> FlaskClient:
    client = make_app(MODEL_URI=str(artifact)).test_client()
    health = client.get("/health")
    assert health.status_code == 200, health.get_json()
    return client


def predict(client: FlaskClient, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post("/predict", json=body)
    assert response.status_code == status, response.get_data(as_text=True)
    return response.get_json()


def details(body: dict[str, Any]) -> dict[str, str]:
    return {d["loc"]: d["msg"] for d in body["error"]["details"]}


def features_of(client: FlaskClient) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in client.get("/model").get_json()["features"]}


def keeps_to_document(client: FlaskClient, body: dict[str, Any]) -> dict[str, Any]:
    """The answer to `body`, checked against the document; the request must fit it too."""
    document = client.get("/openapi.json").get_json()
    validate(document)
    spec = OpenAPI.from_dict(document)
    exchange = call(client, "POST", "/predict", json=body)
    from openapi_core.contrib.werkzeug import WerkzeugOpenAPIRequest

    spec.validate_request(WerkzeugOpenAPIRequest(exchange.request))
    check_response(spec, exchange)
    return exchange.response.get_json()


# A DataFrame pipeline that selects columns by name


@pytest.fixture(scope="module")
def column_transformer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data, target = frame()
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(handle_unknown="ignore"), ["city"]),
                ("plan", OneHotEncoder(handle_unknown="error"), ["plan"]),
            ]
        ),
        LogisticRegression(),
    ).fit(data, target)
    return saved(tmp_path_factory.mktemp("ct"), pipeline, data.head(10))


def test_column_transformer_on_a_dataframe(make_app, column_transformer: Path) -> None:
    client = served(make_app, column_transformer)
    types = features_of(client)
    assert {name: f["type"] for name, f in types.items()} == {
        "age": "integer", "income": "number", "city": "string", "plan": "string",
    }  # fmt: skip
    assert client.get("/model").get_json()["model_input"] == "dataframe"
    assert types["city"]["categories"] == CITIES and types["city"]["accepts_unknown"]
    assert types["plan"]["categories"] == PLANS and not types["plan"]["accepts_unknown"]

    row = {"age": 30, "income": 61.5, "city": "oslo", "plan": "pro"}
    body = keeps_to_document(client, {"features": row, "return_probabilities": True})
    expected = joblib.load(column_transformer).predict(pd.DataFrame([row]))[0]
    assert body["prediction"] == expected
    assert set(body["probabilities"]) == {"no", "yes"}
    # An unknown city is handled by its encoder; an unknown plan is not: 422, naming both.
    predict(client, {"features": {**row, "city": "madrid"}})
    refused = details(predict(client, {"features": {**row, "plan": "gold"}}, 422))
    assert refused == {"features.plan": 'unknown category "gold"; the model knows "basic", "pro"'}
    # Arrays in feature order, mixed types, work too.
    assert predict(client, {"instances": [[30, 61.5, "oslo", "pro"], row]})["predictions"] == [
        expected, expected,
    ]  # fmt: skip


def test_wrong_types_are_refused_at_their_place(make_app, column_transformer: Path) -> None:
    client = served(make_app, column_transformer)
    body = {"instances": [[30.5, "61", 3, True], {"age": 1e40, "income": None, "city": "oslo"}]}
    assert details(predict(client, body, 422)) == {
        "instances[0][0]": "expected an integer, got 30.5",
        "instances[0][1]": "expected a number, got a string",
        "instances[0][2]": "expected a string, got a number",
        "instances[0][3]": "expected a string, got a boolean",
        "instances[1].age": "1e+40 is beyond the int64 range",
        "instances[1].income": "expected a number, got null; this feature cannot be missing",
        "instances[1].plan": "missing feature",
    }


def test_openapi_types_every_feature(make_app, column_transformer: Path) -> None:
    schemas = make_app(MODEL_URI=str(column_transformer)).test_client().get("/openapi.json")
    properties = schemas.get_json()["components"]["schemas"]["RowObject"]["properties"]
    assert properties["plan"]["enum"] == PLANS  # unknown ones are refused
    # Unknown ones are served, and so is a missing one (the encoder ignores both).
    assert properties["city"]["type"] == ["string", "null"]
    assert properties["age"]["type"] == "integer"
    assert properties["income"]["type"] == "number"


def test_all_numeric_pipeline_selecting_columns_by_name(make_app, tmp_path: Path) -> None:
    data, target = frame()
    numeric = data[["age", "income"]]
    pipeline = make_pipeline(
        ColumnTransformer([("scale", StandardScaler(), ["income", "age"])]), LogisticRegression()
    ).fit(numeric, target)
    client = served(make_app, saved(tmp_path, pipeline, numeric.head(5)))
    assert client.get("/model").get_json()["model_input"] == "dataframe"
    expected = pipeline.predict(numeric.head(2)).tolist()
    assert predict(client, {"instances": numeric.head(2).values.tolist()})["predictions"] == (
        expected
    )


def test_numeric_dataframe_model_is_served_arrays_without_pandas(make_app, tmp_path) -> None:
    data, target = frame()
    numeric = data[["age", "income"]]
    pipeline = make_pipeline(StandardScaler(), LogisticRegression()).fit(numeric, target)
    client = served(make_app, saved(tmp_path, pipeline, numeric.head(5)))
    # Same answers as a DataFrame, so the fast path: no pandas needed in the bundle.
    assert client.get("/model").get_json()["model_input"] == "float64_array"
    assert (
        predict(client, {"features": [30, 61.5]})["prediction"]
        == pipeline.predict(pd.DataFrame({"age": [30], "income": [61.5]}))[0]
    )


def test_category_dtype_with_histogram_boosting(make_app, tmp_path: Path) -> None:
    data, target = frame()
    data = data.assign(city=data["city"].astype("category")).drop(columns="plan")
    model = HistGradientBoostingClassifier(categorical_features="from_dtype", max_iter=20)
    model.fit(data, target)
    client = served(make_app, saved(tmp_path, model, data.head(8)))
    city = features_of(client)["city"]
    assert (city["type"], city["dtype"], city["categories"]) == ("string", "category", CITIES)
    # The model treats an unseen category as missing: served.
    assert city["accepts_unknown"] and city["nullable"]
    row = {"age": 44, "income": 48.0, "city": "porto"}
    assert (
        predict(client, {"features": row})["prediction"]
        == model.predict(
            data.head(0).pipe(
                lambda empty: pd.concat([empty, pd.DataFrame([row])]).astype(data.dtypes)
            )
        )[0]
    )
    assert predict(client, {"features": {**row, "city": "madrid"}})["prediction"] in ("yes", "no")
    assert predict(client, {"features": {**row, "income": None}})["prediction"] in ("yes", "no")


def test_object_array_with_an_encoder_on_column_3(make_app, tmp_path: Path) -> None:
    data, target = frame()
    rows = data[["age", "income", "plan", "city"]].to_numpy(dtype=object)
    pipeline = make_pipeline(
        ColumnTransformer([("num", StandardScaler(), [0, 1]), ("cat", OneHotEncoder(), [2, 3])]),
        LogisticRegression(),
    ).fit(rows, target)
    artifact = saved(tmp_path, pipeline, rows[:6], features=["age", "income", "plan", "city"])
    client = served(make_app, artifact)
    described = client.get("/model").get_json()
    assert described["model_input"] == "object_array"
    assert features_of(client)["city"]["categories"] == CITIES
    body = predict(client, {"features": [30, 55.0, "pro", "lisbon"]})
    assert (
        body["prediction"] == pipeline.predict(np.array([[30, 55.0, "pro", "lisbon"]], object))[0]
    )
    refused = details(predict(client, {"features": [30, 55.0, "pro", "rome"]}, 422))
    assert refused == {
        "features[3]": 'unknown category "rome"; the model knows "lisbon", "oslo", "porto"'
    }


def test_text_pipeline(make_app, tmp_path: Path) -> None:
    texts = ["great service, fast", "slow and rude", "fast and friendly", "rude staff, slow"] * 5
    labels = ["good", "bad", "good", "bad"] * 5
    pipeline = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
    client = served(make_app, saved(tmp_path, pipeline, texts[:4], features=["review"]))
    described = client.get("/model").get_json()
    assert described["model_input"] == "text"
    assert described["features"] == [{"name": "review", "type": "string", "nullable": False}]
    body = {"instances": ["friendly and fast", {"review": "rude"}, ["so slow"]]}
    assert keeps_to_document(client, body)["predictions"] == ["good", "bad", "bad"]
    assert details(predict(client, {"features": [3]}, 422)) == {
        "features[0]": "expected a string, got a number"
    }


def test_null_where_an_imputer_fills_it(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(100, 3))
    y = X @ [1.0, 2.0, 3.0]
    imputed = make_pipeline(SimpleImputer(), LinearRegression()).fit(X, y)
    client = served(make_app, saved(tmp_path / "imputed", imputed, X[:5], features=["a", "b", "c"]))
    assert all(f["nullable"] for f in features_of(client).values())
    answer = predict(client, {"features": {"a": 1.0, "b": None, "c": 0.5}})["prediction"]
    assert answer == pytest.approx(imputed.predict([[1.0, np.nan, 0.5]])[0])

    plain = LinearRegression().fit(X, y)
    strict = served(make_app, saved(tmp_path / "plain", plain, X[:5], features=["a", "b", "c"]))
    assert not any(f["nullable"] for f in features_of(strict).values())
    assert details(predict(strict, {"features": [1.0, None, 0.5]}, 422)) == {
        "features[1]": "expected a number, got null; this feature cannot be missing"
    }


def test_booleans_are_true_or_false(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    data = pd.DataFrame({"member": rng.random(80) < 0.5, "spend": rng.normal(10, 2, 80)})
    target = data["spend"] * 2 + data["member"] * 5
    model = LinearRegression().fit(data, target)
    client = served(make_app, saved(tmp_path, model, data.head(5)))
    assert features_of(client)["member"]["type"] == "boolean"
    assert predict(client, {"features": {"member": True, "spend": 10.0}})["prediction"] == (
        pytest.approx(model.predict(pd.DataFrame({"member": [True], "spend": [10.0]}))[0])
    )
    assert details(predict(client, {"features": {"member": 1, "spend": 10.0}}, 422)) == {
        "features.member": "expected true or false, got a number"
    }


def test_multi_output_classifier_with_probabilities(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    X = rng.normal(size=(120, 2))
    Y = np.c_[np.where(X[:, 0] > 0, "up", "down"), np.where(X[:, 1] > 0, 1, 2)]
    model = MultiOutputClassifier(LogisticRegression()).fit(X, Y)
    artifact = saved(tmp_path, model, X[:4], features=["x", "y"], outputs=["direction", "tier"])
    client = served(make_app, artifact)
    described = client.get("/model").get_json()
    assert described["outputs"] == [
        {"name": "direction", "classes": ["down", "up"]},
        {"name": "tier", "classes": ["1", "2"]},
    ]
    body = keeps_to_document(
        client, {"instances": [[1.0, 1.0], [-1, -1]], "return_probabilities": True}
    )
    assert body["predictions"] == [
        {"direction": "up", "tier": "1"}, {"direction": "down", "tier": "2"},
    ]  # fmt: skip
    first = body["probabilities"][0]
    assert set(first) == {"direction", "tier"} and set(first["direction"]) == {"down", "up"}
    assert sum(first["tier"].values()) == pytest.approx(1.0)


def test_boolean_classes_are_keyed_as_json_writes_them(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    X = rng.normal(size=(120, 2))
    model = LogisticRegression().fit(X, X[:, 0] > 0)
    client = served(make_app, saved(tmp_path, model, X[:4], features=["x", "y"]))
    rows = [[1.0, 0.0], [-1.0, 0.0]]
    # Native: the labels are JSON booleans, their probabilities keyed false and true.
    body = keeps_to_document(client, {"instances": rows, "return_probabilities": True})
    assert body["predictions"] == [True, False]
    assert [list(p) for p in body["probabilities"]] == [["false", "true"]] * 2
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    assert list(schemas["Probabilities"]["properties"]) == ["false", "true"]
    assert schemas["Prediction"] == {"enum": [False, True]}
    # MLflow answers the labels; V2 as a BOOL tensor beside the probabilities.
    mlflow = client.post("/invocations", json={"instances": rows}).get_json()
    assert mlflow == {"predictions": [True, False]}
    v2 = client.post(
        "/v2/models/typed/infer",
        json={
            "inputs": [{"name": "input-0", "shape": [2, 2], "datatype": "FP64", "data": rows}],
            "outputs": [{"name": "predict"}, {"name": "predict_proba"}],
        },
    ).get_json()
    assert [(o["name"], o["datatype"]) for o in v2["outputs"]] == [
        ("predict", "BOOL"), ("predict_proba", "FP64"),
    ]  # fmt: skip
    assert v2["outputs"][0]["data"] == [True, False]


def test_multi_output_regressor(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(60, 3))
    model = Ridge().fit(X, np.c_[X.sum(axis=1), X[:, 0] - X[:, 2]])
    client = served(make_app, saved(tmp_path, model, X[:3], features=["a", "b", "c"]))
    assert [o["name"] for o in client.get("/model").get_json()["outputs"]] == [
        "output_0", "output_1",
    ]  # fmt: skip
    body = keeps_to_document(client, {"features": [1.0, 2.0, 3.0]})
    expected = model.predict([[1.0, 2.0, 3.0]])[0]
    assert body["prediction"] == {"output_0": expected[0], "output_1": expected[1]}
    # A regressor has no probabilities, and says so.
    assert "return_probabilities" in details(
        predict(client, {"features": [1.0, 2.0, 3.0], "return_probabilities": True}, 422)
    )


def test_clusterer_and_outlier_detector(make_app, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    X = np.vstack([rng.normal(0, 0.3, (50, 2)), rng.normal(5, 0.3, (50, 2))])
    kmeans = KMeans(n_clusters=2, n_init=3, random_state=0).fit(X)
    clusters = served(make_app, saved(tmp_path / "k", kmeans, X[:4], features=["x", "y"]))
    assert clusters.get("/model").get_json()["task"] == "clustering"
    body = keeps_to_document(clusters, {"instances": [[0.0, 0.1], [5.1, 4.9]]})
    assert body["predictions"] == kmeans.predict([[0.0, 0.1], [5.1, 4.9]]).tolist()

    forest = IsolationForest(random_state=0).fit(X)
    outliers = served(make_app, saved(tmp_path / "i", forest, X[:4], features=["x", "y"]))
    assert outliers.get("/model").get_json()["task"] == "outlier_detection"
    body = keeps_to_document(outliers, {"instances": [[0.0, 0.1], [50.0, -40.0]]})
    assert body["predictions"] == [1, -1]


def test_the_example_model(make_app) -> None:
    client = served(make_app, CHURN)
    row = {
        "tenure_months": 3, "monthly_charges": 70.5, "contract": "month-to-month",
        "payment_method": "electronic-check", "has_partner": False, "support_calls": 4,
    }  # fmt: skip
    body = keeps_to_document(client, {"features": row, "return_probabilities": True})
    assert body["prediction"] in ("yes", "no")
    bad = {**row, "contract": "weekly", "support_calls": None, "has_partner": "no"}
    assert details(predict(client, {"features": bad}, 422)) == {
        "features.contract": (
            'unknown category "weekly"; the model knows "month-to-month", "one-year", "two-year"'
        ),
        "features.has_partner": "expected true or false, got a string",
    }


# describe: inference from the example and the estimator, and what it refuses


def undescribed(tmp_path: Path) -> tuple[pd.DataFrame, Path]:
    """A DataFrame pipeline saved without metadata, and the frame it was fitted on."""
    data, target = frame()
    pipeline = make_pipeline(
        ColumnTransformer(
            [
                ("num", StandardScaler(), ["age", "income"]),
                ("cat", OneHotEncoder(), ["city", "plan"]),
            ]
        ),
        LogisticRegression(),
    ).fit(data, target)
    artifact = tmp_path / "ct.joblib"
    joblib.dump(pipeline, artifact)
    return data, artifact


def test_describe_from_a_json_example_file(tmp_path: Path) -> None:
    data, artifact = undescribed(tmp_path)
    rows = json.loads(data.head(3).to_json(orient="records"))
    metadata = describe(artifact, example=rows)
    assert [f["type"] for f in metadata["features"]] == ["integer", "number", "string", "string"]
    assert metadata["example"] == rows
    assert json.loads(metadata_path_for(artifact).read_text()) == metadata


def test_describe_without_an_example_reads_the_encoders(tmp_path: Path) -> None:
    _, artifact = undescribed(tmp_path)
    metadata = describe(artifact)
    city = metadata["features"][2]
    assert (city["type"], city["categories"], city["accepts_unknown"]) == ("string", CITIES, False)


@pytest.mark.parametrize(
    ("example", "fragment"),
    [
        (
            pd.DataFrame({"a": [1.0, 2.0], "b": [pd.Timedelta(0), pd.Timedelta(1)]}),
            "has no JSON type",
        ),
        (
            # A date-time reaches a model only in a DataFrame, which this one cannot take.
            pd.DataFrame({"a": [1.0, 2.0], "b": [pd.Timestamp(0), pd.Timestamp(1)]}),
            "the model fails on its example rows",
        ),
        ([{"a": 1.0, "b": "x"}, {"a": 2.0, "b": 3}], "mixes value kinds"),
        (pd.DataFrame({"a": [], "b": []}), "the example DataFrame has no rows"),
        ([{"a": 1.0, "b": None}], "the model fails on its example rows"),
    ],
)
def test_describe_refuses_what_the_server_could_not_answer(
    tmp_path: Path, example: Any, fragment: str
) -> None:
    model = LinearRegression().fit(np.array([[1.0, 2.0], [2.0, 1.0], [3.0, 5.0]]), [1.0, 2.0, 3.0])
    artifact = tmp_path / "lr.joblib"
    joblib.dump(model, artifact)
    with pytest.raises(ExportError, match=fragment):
        describe(artifact, features=["a", "b"], example=example)
    assert not metadata_path_for(artifact).exists()


# loading: old metadata, the example proven at load, pandas where it is needed


def test_metadata_with_plain_feature_names_still_loads(make_app, model_copy: Path) -> None:
    path = metadata_path_for(model_copy)
    document = json.loads(path.read_text())
    document["features"] = [feature["name"] for feature in document["features"]]
    # Every key written since: format, what the artifact needs, the example and its answers.
    later = ("format", "example_predictions", "references", "distributions", "code", "trusted")
    for key in ("model_input", "outputs", "example", *later):
        del document[key]
    path.write_text(json.dumps(document))
    client = served(make_app, model_copy)
    assert predict(client, {"features": [5.1, 3.5, 1.4, 0.2]})["prediction"] == "setosa"
    assert {f["type"] for f in features_of(client).values()} == {"number"}


def test_a_model_failing_its_example_at_load_is_unavailable(make_app, model_copy: Path) -> None:
    path = metadata_path_for(model_copy)
    document = json.loads(path.read_text())
    document["example"] = [dict.fromkeys(document["example"][0], 1.7e308)]
    document["example_predictions"] = document["example_predictions"][:1]
    path.write_text(json.dumps(document))
    client = make_app(MODEL_URI=str(model_copy)).test_client()
    health = client.get("/health")
    assert health.status_code == 503
    assert (
        "the model fails on its own example rows [0] (numeric overflow)"
        in health.get_json()["reason"]
    )
    assert (
        predict(client, {"features": [5.1, 3.5, 1.4, 0.2]}, 503)["error"]["code"]
        == "model_unavailable"
    )


def test_a_dataframe_model_without_pandas_names_the_fix(make_app, monkeypatch) -> None:
    monkeypatch.setattr(app.core.predictor, "pandas_available", lambda: False)
    health = make_app(MODEL_URI=str(CHURN)).test_client().get("/health")
    assert health.status_code == 503
    assert "pandas is not installed here" in health.get_json()["reason"]
    assert '--param="pandas=true"' in health.get_json()["reason"]


def test_describe_without_an_example_says_to_pass_one(tmp_path: Path) -> None:
    # Strings passed through to a categorical model: no encoder records them, and a
    # number in their place fails.
    data = pd.DataFrame({"flag": ["yes", "no"] * 20, "x": np.arange(40.0)})
    model = make_pipeline(
        ColumnTransformer([("flag", "passthrough", ["flag"]), ("x", "passthrough", ["x"])]),
        HistGradientBoostingClassifier(categorical_features=[0], max_iter=5),
    ).fit(data, np.arange(40) % 2)
    artifact = tmp_path / "m.joblib"
    joblib.dump(model, artifact)
    with pytest.raises(ExportError, match="pass --example with real rows"):
        describe(artifact)
    assert describe(artifact, example=data.head(4))["features"][0]["type"] == "string"
