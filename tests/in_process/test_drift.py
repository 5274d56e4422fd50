"""model.drift: rows that follow the churn example's reference are stable, drift put
into one feature ranks it first, and the command reads captures delivered as Firehose
delivers them (from the real app) or as model.captures writes them."""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import hmac
import io
import json
import math
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pytest
from support.commands import run_main
from support.paths import ROOT
from support.reference_rows import following

from app.core.captured_rows import HASH_HEX_DIGITS
from app.core.metadata import ModelMetadata
from app.factory import create_app
from model import captures as captures_command
from model.captures import read_captures
from model.drift import (
    EPSILON,
    MISSING,
    OTHER,
    DriftError,
    DriftReport,
    drift_report,
    label_of,
    main,
    numeric_bins,
    psi,
    render_html,
    render_text,
    select_model,
)

CHURN = ROOT / "model" / "examples" / "churn.joblib"
CHURN_METADATA = ROOT / "model" / "examples" / "churn.json"
ROWS = 20_000  # enough that sampling alone keeps every undrifted PSI well under 0.1
HASH_KEY = "k" * 40
SHA256 = "0" * 64


@pytest.fixture(scope="module")
def churn() -> ModelMetadata:
    return ModelMetadata.read(CHURN_METADATA)


@pytest.fixture(scope="module")
def model() -> Any:
    return joblib.load(CHURN)


def predicted(model: Any, rows: pd.DataFrame) -> pd.DataFrame:
    """The rows with the model's predictions, as the captures' rows table has them."""
    return rows.assign(prediction=model.predict(rows))


@pytest.fixture(scope="module")
def steady(churn: ModelMetadata, model: Any) -> pd.DataFrame:
    return predicted(model, following(churn, ROWS, seed=1))


def assert_only_drifted(report: DriftReport, drifted: str) -> None:
    first, *others = report.features
    assert first.name == drifted
    assert first.score is not None and first.score > 0.25 and first.label == "major"
    for feature in others:
        assert feature.score is not None and feature.score < 0.1, (feature.name, feature.score)
        assert feature.label == "stable"


# Drift found where it was put.


def test_rows_that_follow_the_reference_are_stable(
    churn: ModelMetadata, steady: pd.DataFrame
) -> None:
    report = drift_report(churn, steady)
    assert report.rows == ROWS and report.reference_rows == 1500
    assert {f.name for f in report.features} == set(churn.features)
    for feature in report.features:
        assert feature.score is not None and feature.score < 0.1, (feature.name, feature.score)
        assert feature.n == ROWS and feature.reason is None
    ranked = [f.score or 0.0 for f in report.features]
    assert ranked == sorted(ranked, reverse=True)
    assert report.predictions.kind == "classes"
    assert report.predictions.score is not None and report.predictions.score < 0.1


def test_a_shifted_number_ranks_first_and_moves_the_predictions(
    churn: ModelMetadata, model: Any, steady: pd.DataFrame
) -> None:
    dearer = steady.drop(columns="prediction")
    dearer["monthly_charges"] += 60
    report = drift_report(churn, predicted(model, dearer))
    assert_only_drifted(report, "monthly_charges")
    bins = report.features[0].bins
    assert bins is not None and bins.labels[-1] == "> 89.454" and bins.actual[-1] > 0.9
    # Dearer customers leave more often: the model says so.
    assert report.predictions.score is not None and report.predictions.score > 0.25
    assert report.predictions.label == "major"


def test_a_drifted_category_ranks_first(
    churn: ModelMetadata, model: Any, steady: pd.DataFrame
) -> None:
    rows = steady.assign(contract=pd.Series(["two-year"] * ROWS, dtype="str"))
    report = drift_report(churn, rows)
    assert_only_drifted(report, "contract")
    bins = report.features[0].bins
    assert bins is not None
    assert bins.labels == ("month-to-month", "one-year", "two-year")
    assert bins.actual == (0.0, 0.0, 1.0)


def test_drifted_predictions_alone(churn: ModelMetadata, steady: pd.DataFrame) -> None:
    rng = np.random.default_rng(3)
    rows = steady.assign(prediction=rng.choice(["no", "yes"], ROWS, p=[0.35, 0.65]))
    report = drift_report(churn, rows)
    assert all(f.label == "stable" for f in report.features)
    drift = report.predictions
    assert drift.bins is not None and drift.bins.labels == ("no", "yes")
    assert drift.bins.expected == (0.659333, 0.340667)
    assert drift.score == pytest.approx(psi(drift.bins.expected, drift.bins.actual))
    assert drift.score > 0.25 and drift.label == "major"


# The arithmetic.


def metadata_of(
    features: list[dict[str, Any]],
    stats: dict[str, Any],
    predictions: dict[str, Any] | None = None,
    task: str = "classification",
    name: str = "drifty",
    model_input: str = "dataframe",
) -> ModelMetadata:
    document = {
        "name": name,
        "version": "1.0.0",
        "sha256": SHA256,
        "task": task,
        "features": features,
        "model_input": model_input,
        "classes": ["a", "b"] if task == "classification" else [],
        "trained_with": {},
        "reference": {"rows": 100, "features": stats, "predictions": predictions},
    }
    return ModelMetadata.from_document(document, source="test")


TENTHS = [float(q) for q in range(11)]  # deciles of a uniform 0..10


def test_psi_by_hand() -> None:
    metadata = metadata_of(
        [{"name": "x", "type": "number"}, {"name": "s", "type": "string"}],
        {
            "x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS},
            "s": {"missing": 0.0, "values": {"a": 0.5, "b": 0.5}, "other": 0.0},
        },
        {"classes": {"a": 0.5, "b": 0.5}, "other": 0.0},
    )
    rows = pd.DataFrame(
        {
            # Half in the first decile (0, 1], half in the last (9, 10]; a value on an
            # edge is in the bin it closes.
            "x": [0.5, 1.0, 0.2, 0.7, 0.9, 9.5, 9.1, 10.0, 9.9, 42.0],
            "s": ["a"] * 6 + ["b"] * 2 + ["c"] * 2,
            "prediction": ["a"] * 10,
        }
    )
    report = drift_report(metadata, rows)
    by_name = {f.name: f for f in report.features}
    x = by_name["x"]
    assert x.bins is not None
    assert x.bins.labels == (
        "<= 1", "(1, 2]", "(2, 3]", "(3, 4]", "(4, 5]", "(5, 6]", "(6, 7]", "(7, 8]",
        "(8, 9]", "> 9",
    )  # fmt: skip
    assert x.bins.expected == pytest.approx([0.1] * 10)
    assert x.bins.actual == (0.5, 0, 0, 0, 0, 0, 0, 0, 0, 0.5)
    # Two bins of 0.5 against 0.1; eight empty ones, counted as EPSILON.
    assert x.score == pytest.approx(2 * 0.4 * math.log(5) + 8 * (1e-4 - 0.1) * math.log(1e-3))
    s = by_name["s"]
    assert s.bins is not None and s.bins.labels == ("a", "b", OTHER)
    assert s.bins.expected == (0.5, 0.5, 0.0) and s.bins.actual == (0.6, 0.2, 0.2)
    # A value never seen in training: "other", expected EPSILON.
    assert s.score == pytest.approx(
        0.1 * math.log(1.2) + -0.3 * math.log(0.4) + (0.2 - 1e-4) * math.log(0.2 / 1e-4)
    )
    assert [f.name for f in report.features] == ["x", "s"]  # worst first
    assert report.predictions.score == pytest.approx(
        0.5 * math.log(2) + (1e-4 - 0.5) * math.log(1e-4 / 0.5)
    )
    assert EPSILON == 1e-4
    assert psi([0.5, 0.5], [0.5, 0.5]) == 0.0


@pytest.mark.parametrize(
    ("score", "label"),
    [(0.0, "stable"), (0.0999, "stable"), (0.1, "moderate"), (0.25, "moderate"), (0.2501, "major")],
)
def test_labels(score: float, label: str) -> None:
    assert label_of(score) == label


def test_tied_deciles_merge_and_expect_half_a_decile_more() -> None:
    # The churn example's support calls: a count, 0 at the lowest three deciles.
    edges, shares, labels = numeric_bins([0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 6])
    assert edges.tolist() == [0, 1, 2, 3]
    assert labels == ("<= 0", "(0, 1]", "(1, 2]", "(2, 3]", "> 3")
    # At or below 0: at least 20% (the 0.2 decile is 0), under 30% (the 0.3 one is 1).
    assert shares.tolist() == pytest.approx([0.25, 0.3, 0.2, 0.2, 0.05])
    # The highest value tied: everything from the 0.7 decile up to it, nothing above.
    edges, shares, labels = numeric_bins([1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9])
    assert labels[-2:] == ("(8, 9]", "> 9")
    assert shares.tolist()[-2:] == pytest.approx([0.3, 0.0])
    assert shares.sum() == pytest.approx(1.0)
    # A constant: all at or below it.
    edges, shares, labels = numeric_bins([5.0] * 11)
    assert (labels, shares.tolist()) == (("<= 5", "> 5"), [1.0, 0.0])
    # Distinct deciles: ten bins of 10%.
    assert numeric_bins(TENTHS)[1].tolist() == pytest.approx([0.1] * 10)


def test_an_integer_feature_with_ties_is_stable_when_it_follows_them() -> None:
    quantiles = [0, 0, 0, 1, 1, 1, 1, 2, 2, 3, 5]
    metadata = metadata_of(
        [{"name": "calls", "type": "integer"}],
        {"calls": {"missing": 0.0, "range": [0, 5], "quantiles": quantiles}},
    )
    shares = numeric_bins(quantiles)[1]
    # 0 is the decile at levels 0..2, 1 at 3..6, 2 at 7..8: half a decile more each; 3
    # at level 9 alone, as a continuous feature's decile.
    assert shares.tolist() == pytest.approx([0.25, 0.4, 0.2, 0.05, 0.1])
    counts = {0: 250, 1: 400, 2: 200, 3: 50, 4: 60, 5: 40}
    rows = pd.DataFrame({"calls": np.repeat(list(counts), list(counts.values()))})
    (calls,) = drift_report(metadata, rows).features
    assert calls.bins is not None
    assert calls.bins.labels == ("<= 0", "(0, 1]", "(1, 2]", "(2, 3]", "> 3")
    assert calls.score == pytest.approx(0.0, abs=1e-12)
    # Ones become zeros: drift, in the bins that moved.
    moved = pd.DataFrame({"calls": rows["calls"].replace(1, 0)})
    (calls,) = drift_report(metadata, moved).features
    assert calls.bins is not None and calls.bins.actual[:2] == (0.65, 0.0)
    assert calls.label == "major"


def test_a_change_in_the_missing_share_alone_is_drift() -> None:
    metadata = metadata_of(
        [{"name": "x", "type": "number", "nullable": True}],
        {"x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS}},
    )
    # One value per decile, and as many missing.
    values = [q + 0.5 for q in range(10)] + [None] * 10
    (x,) = drift_report(metadata, pd.DataFrame({"x": values}, dtype="float64")).features
    assert x.bins is not None and x.bins.labels[-1] == MISSING
    assert (x.missing_then, x.missing_now) == (0.0, 0.5)
    assert x.bins.actual == (0.05,) * 10 + (0.5,)
    assert x.score == pytest.approx(
        10 * -0.05 * math.log(0.5) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    )
    # Without missing values on either side, no missing bin.
    (x,) = drift_report(metadata, pd.DataFrame({"x": values[:10]})).features
    assert x.bins is not None and MISSING not in x.bins.labels and x.score == pytest.approx(0)


def keyed_hash(value: Any) -> str | None:
    if value is None or value != value:  # NaN
        return None
    text = value if isinstance(value, str) else json.dumps(value)
    return hmac.new(HASH_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()[:HASH_HEX_DIGITS]


def test_hashed_absent_and_date_time_features_have_no_score_and_come_last(
    churn: ModelMetadata, steady: pd.DataFrame
) -> None:
    rows = steady.drop(columns="has_partner").assign(
        payment_method=steady["payment_method"].map(keyed_hash).astype("str"),
        tenure_months=steady["tenure_months"].tolist()[:10]
        + [keyed_hash(v) for v in steady["tenure_months"].tolist()[10:]],
    )
    report = drift_report(churn, rows)
    names = [f.name for f in report.features]
    assert names[-3:] == ["tenure_months", "payment_method", "has_partner"]  # schema order
    unscored = {f.name: f for f in report.features[-3:]}
    assert all(f.score is None and f.label is None and f.bins is None for f in unscored.values())
    assert unscored["payment_method"].reason == (
        "hashed in the captures: its values cannot be compared"
    )
    assert unscored["payment_method"].n == ROWS
    assert unscored["tenure_months"].reason == (
        f"hashed in the captures in {ROWS - 10} of {ROWS} rows: its values cannot be compared"
    )
    absent = unscored["has_partner"]
    assert absent.reason is not None and absent.reason.startswith("not in the captures")
    assert (absent.n, absent.missing_then, absent.missing_now) == (0, 0.0, None)
    assert all(f.score is not None for f in report.features[:-3])

    # A string feature whose reference values look like hashes is compared as it is.
    hexed = {keyed_hash(v): s for v, s in {"a": 0.5, "b": 0.5}.items()}
    metadata = metadata_of(
        [{"name": "id", "type": "string"}],
        {"id": {"missing": 0.0, "values": hexed, "other": 0.0}},
    )
    (ids,) = drift_report(metadata, pd.DataFrame({"id": list(hexed) * 5})).features
    assert ids.score == pytest.approx(0.0)

    dated = metadata_of(
        [{"name": "when", "type": "datetime", "nullable": True}, {"name": "x", "type": "number"}],
        {
            "when": {"missing": 0.1},
            "x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS},
        },
    )
    rows = pd.DataFrame({"when": ["2026-12-05T10:00:00Z", None], "x": [1.0, 2.0]})
    _, when = drift_report(dated, rows).features
    assert (when.name, when.score, when.missing_then, when.missing_now) == ("when", None, 0.1, 0.5)
    assert when.reason == "a date-time: its reference is its missing share alone"


def test_a_regressor_s_predictions_are_compared_by_deciles() -> None:
    metadata = metadata_of(
        [{"name": "x", "type": "number"}],
        {"x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS}},
        {"quantiles": [q * 10 for q in TENTHS]},
        task="regression",
    )
    rows = pd.DataFrame({"x": np.linspace(0.05, 9.95, 100), "prediction": np.full(100, 55.0)})
    report = drift_report(metadata, rows)
    drift = report.predictions
    assert drift.kind == "deciles" and drift.bins is not None
    assert drift.bins.labels[5] == "(50, 60]" and drift.bins.actual[5] == 1.0
    assert drift.label == "major"
    assert report.features[0].score == pytest.approx(0.0)


def with_versions(rows: pd.DataFrame, *versions: str) -> pd.DataFrame:
    parts = np.array_split(np.arange(len(rows)), len(versions))
    labels = np.empty(len(rows), dtype=object)
    for part, version in zip(parts, versions, strict=True):
        labels[part] = version
    return rows.assign(model_name="customer-churn", model_version=labels)


def test_rows_of_several_versions_are_refused_unless_one_is_chosen(
    churn: ModelMetadata, steady: pd.DataFrame
) -> None:
    rows = with_versions(steady.head(300), "1.0.0", "1.1.0")
    with pytest.raises(DriftError, match=r"several models or versions: customer-churn 1\.0\.0"):
        select_model(rows, churn, None)
    with pytest.raises(DriftError, match="several models or versions"):
        drift_report(churn, rows)
    chosen = select_model(rows, churn, "1.1.0")
    assert len(chosen) == 150 and set(chosen["model_version"]) == {"1.1.0"}
    report = drift_report(churn, chosen)
    assert report.notes == (
        "the captured rows are of version 1.1.0, the reference of version 1.0.0",
    )
    with pytest.raises(DriftError, match=r"no rows of customer-churn version 2\.0\.0; they"):
        select_model(rows, churn, "2.0.0")
    other = rows.assign(model_name="iris", model_version="1.0.0")
    with pytest.raises(DriftError, match="are of the model iris, the metadata describes"):
        drift_report(churn, other)
    assert drift_report(churn, with_versions(steady.head(300), "1.0.0")).notes == ()


def test_no_reference_no_rows_no_features() -> None:
    metadata = metadata_of(
        [{"name": "x", "type": "number"}],
        {"x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS}},
    )
    bare = ModelMetadata.from_document({**metadata.to_document(), "reference": None}, source="test")
    with pytest.raises(DriftError, match="describe the model with --reference"):
        drift_report(bare, pd.DataFrame({"x": [1.0]}))
    with pytest.raises(DriftError, match="no captured rows"):
        drift_report(metadata, pd.DataFrame({"x": []}))
    with pytest.raises(DriftError, match=r"none of the features of drifty \(x\)"):
        drift_report(metadata, pd.DataFrame({"y": [1.0]}))


# The text and the page.


def test_the_text_is_a_table_worst_first(churn: ModelMetadata, steady: pd.DataFrame) -> None:
    rows = steady.drop(columns="has_partner").assign(
        contract=pd.Series(["two-year"] * ROWS, dtype="str")
    )
    report = drift_report(churn, rows)
    text = render_text(report)
    lines = text.splitlines()
    assert lines[0] == "customer-churn 1.0.0: 20000 captured rows against 1500 reference rows"
    assert "\x1b" not in text  # no colours
    header = lines.index(next(line for line in lines if line.startswith("feature ")))
    table = lines[header : header + 1 + len(churn.features)]
    assert [line.split()[0] for line in table[1:]] == [f.name for f in report.features]
    assert table[1].split()[:4] == [
        "contract",
        "string",
        f"{report.features[0].score:.4f}",
        "major",
    ]
    assert table[-1].split()[:3] == ["has_partner", "boolean", "-"]
    assert table[-1].endswith("not in the captures (excluded from capture, or captured by no row)")
    # Fixed-width columns: each heading starts where its column's cells do.
    for heading in ("type", "drift", "missing then -> now"):
        column = table[0].index(heading)
        assert all(line[column - 1] == " " and line[column] != " " for line in table[1:])
    assert "support_calls    number " in text and "4.5% -> " in text
    predictions = lines[lines.index("") + 1 :]
    assert any(line.startswith("predictions (classes): PSI ") for line in predictions)
    assert re.search(r"^no\s+65\.9%\s+\d+\.\d%$", text, re.MULTILINE)


class Page(HTMLParser):
    """The tags, attributes and text of a page."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for name, _ in self.tags if name == tag)


def assert_self_contained(page: str) -> Page:
    parsed = Page(page)
    assert "<script" not in page.lower()
    assert parsed.count("script") == 0 and parsed.count("link") == 0
    assert parsed.count("img") == 0 and parsed.count("iframe") == 0
    for _, attributes in parsed.tags:
        for name, value in attributes.items():
            assert not name.startswith("on"), name  # no event handlers either
            if name in ("src", "href", "xlink:href", "action"):
                assert value is not None and value.startswith("#"), (name, value)
    assert "@import" not in page and "url(" not in page
    assert not re.search(r"https?://", page)
    return parsed


def test_the_page_is_self_contained_and_escapes_every_value() -> None:
    hostile = '<b>&"'
    metadata = metadata_of(
        [
            {"name": "<i>plan</i>", "type": "string"},
            {"name": "x", "type": "number"},
            {"name": "gone", "type": "number"},
        ],
        {
            "<i>plan</i>": {"missing": 0.0, "values": {hostile: 0.5, "basic": 0.5}, "other": 0.0},
            "x": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS},
            "gone": {"missing": 0.0, "range": [0, 10], "quantiles": TENTHS},
        },
        {"classes": {"a": 0.5, "b": 0.5}, "other": 0.0},
    )
    rows = pd.DataFrame(
        {
            "<i>plan</i>": [hostile, "basic", "<script>alert(1)</script>", hostile],
            "x": [1.0, 2.0, 3.0, 4.0],
            "prediction": ["a", "b", "a", "a"],
        }
    )
    report = drift_report(metadata, rows)
    page = render_html(report)
    parsed = assert_self_contained(page)
    # One chart per feature compared, and one of the predictions.
    assert parsed.count("svg") == 2 + 1
    assert hostile not in page and "<i>plan</i>" not in page
    assert "&lt;b&gt;&amp;&quot;" in page and "&lt;i&gt;plan&lt;/i&gt;" in page
    text = "".join(parsed.text)
    assert hostile in text and "<i>plan</i>" in text and OTHER in text
    # The summary, worst first, links to each feature's section on the page.
    links = [a["href"] for tag, a in parsed.tags if tag == "a"]
    assert links == ["#feature-0", "#feature-1", "#feature-2"]
    ids = [a.get("id") for _, a in parsed.tags if a.get("id")]
    assert {"summary", "predictions", "feature-0", "feature-1", "feature-2"} <= set(ids)


def test_a_lone_surrogate_is_shown_escaped() -> None:
    metadata = metadata_of(
        [{"name": "s", "type": "string"}],
        {"s": {"missing": 0.0, "values": {"\ud800": 0.5, "ok": 0.5}, "other": 0.0}},
    )
    report = drift_report(metadata, pd.DataFrame({"s": ["\ud800", "ok"]}, dtype=object))
    page = render_html(report)
    page.encode("utf-8")  # no lone surrogate left to fail on
    assert "\\ud800" in page
    render_text(report).encode("utf-8")


# The command.


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    return run_main(main, argv, capsys)


def as_json_rows(frame: pd.DataFrame) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(frame.to_json(orient="records"))
    return rows


@pytest.fixture(scope="module")
def delivered(churn: ModelMetadata, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of objects as Firehose delivers them (messages extracted, gzipped), of
    the churn model served with payment_method hashed and has_partner excluded, asked
    about 1000 rows whose contracts are all two-year."""
    app = create_app(
        {
            "MODEL_URI": str(CHURN),
            "CAPTURE_SAMPLE_RATE": "1",
            "CAPTURE_MAX_ROWS": "250",
            "CAPTURE_HASH": "payment_method",
            "CAPTURE_HASH_KEY": HASH_KEY,
            "CAPTURE_EXCLUDE": "has_partner",
        }
    )
    app.testing = True
    client = app.test_client()
    rows = following(churn, 1000, seed=5).assign(contract="two-year")
    written = io.StringIO()
    with contextlib.redirect_stdout(written):
        for start in range(0, len(rows), 250):
            body = {"instances": as_json_rows(rows.iloc[start : start + 250])}
            response = client.post("/predict", json=body)
            assert response.status_code == 200, response.get_data(as_text=True)
        refused = {"instances": [{"tenure_months": "six"}]}
        assert client.post("/predict", json=refused).status_code == 422
    lines = written.getvalue().splitlines()
    folder = tmp_path_factory.mktemp("delivered") / "captures" / "2026" / "12" / "05"
    folder.mkdir(parents=True)
    for part, start in enumerate(range(0, len(lines), 3)):
        text = "".join(f"{line}\n" for line in lines[start : start + 3])
        (folder / f"stream-1-2026-12-05-13-0{part}.gz").write_bytes(gzip.compress(text.encode()))
    return folder.parents[2]


def test_the_command_reads_delivered_objects_and_rows_files(
    delivered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status, out, err = run([str(CHURN_METADATA), str(delivered)], capsys)
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "customer-churn 1.0.0: 1000 captured rows against 1500 reference rows"
    table = lines[lines.index("") + 1 :]
    assert table[0].split() == [
        "feature", "type", "PSI", "drift", "missing", "then", "->", "now", "rows", "note",
    ]  # fmt: skip
    assert table[1].split()[:4] == ["contract", "string", table[1].split()[2], "major"]
    for line in table[2:5]:
        assert line.split()[3] == "stable", line
    assert table[5].startswith("payment_method ") and table[5].endswith(
        "hashed in the captures: its values cannot be compared"
    )
    assert table[6].startswith("has_partner ") and "not in the captures" in table[6]
    assert "predictions (classes): PSI " in out

    # The rows as model.captures writes them read the same, as CSV and as Parquet.
    for name in ("rows.csv", "rows.parquet"):
        write_rows([str(delivered), "--output", str(tmp_path / name)], capsys)
        assert run([str(CHURN_METADATA), str(tmp_path / name)], capsys) == (0, out, "")

    # With --html, the same report as a page too, written whole.
    page = tmp_path / "report.html"
    status, html_out, err = run([str(CHURN_METADATA), str(delivered), "--html", str(page)], capsys)
    assert (status, html_out, err) == (0, out, f"wrote {page}\n")
    parsed = assert_self_contained(page.read_text(encoding="utf-8"))
    assert parsed.count("svg") == 4 + 1  # four features compared, and the predictions
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "rows.csv", "rows.parquet"]


def write_rows(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m model.captures ARGV`, which must succeed."""
    captures_command.main(argv)
    assert capsys.readouterr().out == ""


def test_model_version_and_since(
    delivered: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = read_captures(str(delivered)).rows
    two = tmp_path / "two.csv"
    with_versions(rows, "1.0.0", "1.1.0").to_csv(two, index=False)
    status, out, err = run([str(CHURN_METADATA), str(two)], capsys)
    assert (status, out) == (1, "")
    assert err == (
        "error: the captures hold rows of several models or versions: customer-churn 1.0.0 "
        "(500 rows), customer-churn 1.1.0 (500 rows); choose one with --model-version (the "
        "metadata is customer-churn 1.0.0)\n"
    )
    status, out, err = run([str(CHURN_METADATA), str(two), "--model-version", "1.1.0"], capsys)
    assert (status, err) == (0, "")
    assert out.splitlines()[0].startswith("customer-churn 1.0.0: 500 captured rows")
    assert "note: the captured rows are of version 1.1.0, the reference of version 1.0.0" in out
    # All captured moments ago: a day back holds them, a date to come none.
    assert run([str(CHURN_METADATA), str(delivered), "--since", "1d"], capsys)[0] == 0
    argv = [str(CHURN_METADATA), str(two), "--since", "1d", "--model-version", "1.0.0"]
    assert run(argv, capsys)[0] == 0
    argv[3] = "2099-01-01"
    assert run(argv, capsys) == (
        1, "", f"error: no captured rows in {two} since 2099-01-01T00:00:00+00:00\n"
    )  # fmt: skip


def metadata_without_reference(tmp_path: Path) -> Path:
    document = json.loads(CHURN_METADATA.read_text())
    path = tmp_path / "bare.json"
    path.write_text(json.dumps({**document, "reference": None}))
    return path


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["{tmp}/none.json", "{captures}"], 2, "there is no file '{tmp}/none.json'"),
        (["{model}", "{tmp}/nowhere"], 2, "'{tmp}/nowhere' is neither an s3:// URI nor an"),
        (["{model}", "s3://"], 2, "expected s3://bucket/prefix, got 's3://'"),
        (["{model}", "{captures}", "--since", "last week"], 2, "argument --since: expected a"),
        (["{model}", "{captures}", "--html", "{tmp}/r.txt"], 2, "--html takes a .html file"),
        (["{model}", "{captures}", "--html", "{tmp}/no/r.html"], 2, "--html: there is no folder"),
        (["{tmp}/broken.json", "{captures}"], 1, "model metadata unreadable: {tmp}/broken.json"),
        (["{tmp}/bare.json", "{captures}"], 1, "describe the model with --reference"),
        (["{model}", "{tmp}/corrupt"], 1, "{tmp}/corrupt/object: broken gzip"),
        (["{model}", "{tmp}/rows.parquet"], 1, "{tmp}/rows.parquet: not a readable Parquet"),
        (["{model}", "{tmp}/empty.csv"], 1, "{tmp}/empty.csv: the file is empty"),
        (["{model}", "{tmp}/refused"], 1, "no captured rows in {tmp}/refused"),
        (
            ["{model}", "{captures}", "--since", "2099-01-01"], 1,
            "no captured rows in {captures} since 2099-01-01T00:00:00+00:00",
        ),
        (
            ["{model}", "{captures}", "--model-version", "9"], 1,
            "no rows of customer-churn version 9; they hold customer-churn 1.0.0 (1000 rows)",
        ),
        (["{model}", "{tmp}/other.csv"], 1, "none of the features of customer-churn"),
    ],
    ids=[
        "no-metadata", "no-captures", "no-bucket", "bad-since", "bad-html-suffix",
        "no-html-folder", "invalid-metadata", "no-reference", "corrupt-object",
        "unreadable-parquet", "empty-csv", "only-refused-requests", "nothing-since",
        "version-not-present", "not-captures",
    ],
)  # fmt: skip
def test_every_bad_input_is_one_error_line(
    delivered: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    message: str,
) -> None:
    (tmp_path / "broken.json").write_text("{not json")
    metadata_without_reference(tmp_path)
    (tmp_path / "corrupt").mkdir()
    (tmp_path / "corrupt" / "object").write_bytes(gzip.compress(b'{"record":"capture"')[:-4])
    (tmp_path / "rows.parquet").write_bytes(b"PAR1 not really")
    (tmp_path / "empty.csv").write_bytes(b"")
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    (tmp_path / "refused").mkdir()
    refused = {"record": "capture", "request_id": "r", "time": "2026-12-05T13:00:00.000Z",
               "model_name": "customer-churn", "model_version": "1.0.0", "status": 422}  # fmt: skip
    (tmp_path / "refused" / "object").write_text(json.dumps(refused) + "\n")

    def filled(text: str) -> str:
        return text.format(tmp=tmp_path, captures=delivered, model=CHURN_METADATA)

    exited, out, err = run([filled(arg) for arg in argv], capsys)
    [line] = [line for line in err.splitlines() if "error:" in line]
    assert (exited, out) == (status, "")
    assert filled(message) in line
    # A usage error is argparse's: the usage, then the error line naming the command.
    assert line.startswith("error: " if status == 1 else "python -m model.drift: error: ")
    if status == 1:
        assert err == line + "\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix == ".html") == []
