"""Train the example mixed-type model: customer churn from a pandas DataFrame.

    python -m model.examples.churn [--out DIR]

The data is generated here, seeded, so training is reproducible and needs no download.
Numbers are scaled, categories one-hot encoded (an unknown payment method is accepted,
an unknown contract is not), a missing count of support calls is imputed, and a
logistic regression predicts "yes" or "no". Served, the model is handed a DataFrame
with the training dtypes: serving it needs pandas. The metadata carries reference
statistics of the training rows (app.core.reference), to compare requests with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from model.export import Description, save_model, training_main

NAME = "customer-churn"
VERSION = "1.0.0"
SEED = 7
ROWS = 2000
CONTRACTS = ["month-to-month", "one-year", "two-year"]
PAYMENT_METHODS = ["electronic-check", "mailed-check", "bank-transfer", "credit-card"]
DEFAULT_OUT = Path(__file__).resolve().parent


def customers(rows: int = ROWS, seed: int = SEED) -> tuple[pd.DataFrame, pd.Series]:
    """A synthetic customer table and whether each customer left."""
    rng = np.random.default_rng(seed)
    contract = rng.choice(CONTRACTS, rows, p=[0.55, 0.25, 0.20])
    tenure = rng.integers(1, 73, rows)
    charges = np.round(rng.normal(65, 20, rows).clip(18, 120), 2)
    calls = rng.poisson(1.5, rows).astype(float)
    calls[rng.random(rows) < 0.05] = np.nan  # not every customer's calls were counted
    frame = pd.DataFrame(
        {
            "tenure_months": tenure,
            "monthly_charges": charges,
            "contract": pd.array(contract, dtype="str"),
            "payment_method": pd.array(rng.choice(PAYMENT_METHODS, rows), dtype="str"),
            "has_partner": rng.random(rows) < 0.45,
            "support_calls": calls,
        }
    )
    score = (
        1.4 * (contract == "month-to-month")
        - 0.04 * tenure
        + 0.02 * (charges - 65)
        + 0.35 * np.nan_to_num(calls, nan=1.5)
        - 0.5 * frame["has_partner"].to_numpy()
        + 0.6 * (frame["payment_method"].to_numpy() == "electronic-check")
    )
    left = rng.random(rows) < 1 / (1 + np.exp(-(score - 0.2)))
    return frame, pd.Series(np.where(left, "yes", "no"), name="churned")


def build_pipeline() -> Pipeline:
    columns = ColumnTransformer(
        [
            ("numbers", StandardScaler(), ["tenure_months", "monthly_charges"]),
            (
                "calls",
                make_pipeline(SimpleImputer(strategy="median"), StandardScaler()),
                ["support_calls"],
            ),
            ("contract", OneHotEncoder(handle_unknown="error"), ["contract"]),
            ("payment", OneHotEncoder(handle_unknown="ignore"), ["payment_method"]),
            ("partner", "passthrough", ["has_partner"]),
        ]
    )
    return Pipeline(
        [("columns", columns), ("classify", LogisticRegression(max_iter=1000, random_state=SEED))]
    )


def train(out_dir: Path = DEFAULT_OUT) -> Path:
    """Fit the pipeline, write churn.joblib and churn.json, return the artifact path."""
    X, y = customers()
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=SEED, stratify=y
    )
    pipeline = build_pipeline().fit(X_train, y_train)
    accuracy = accuracy_score(y_test, pipeline.predict(X_test))
    artifact = out_dir / "churn.joblib"
    metrics = {"accuracy": round(float(accuracy), 4), "test_rows": len(y_test)}
    description = Description(NAME, VERSION, metrics=metrics)
    save_model(pipeline, artifact, description, X_test.head(5), reference=X_train)
    return artifact


def main() -> None:
    training_main(train, __doc__ or "", DEFAULT_OUT)


if __name__ == "__main__":
    main()
