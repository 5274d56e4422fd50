"""Retrain the churn example on newer customers: the model to try as a shadow of it.

    python -m model.examples.churn_retrained [--out DIR]

The same features, pipeline and reference statistics as model.examples.churn, fitted on
a later, larger sample of customers (another seed) with stronger regularisation, and
described as version 1.1.0. It accepts every row the served churn model accepts, so it
can answer beside it (SHADOW_MODEL_URI) and be compared before it replaces it.
"""

from __future__ import annotations

from pathlib import Path

from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split

from model.examples.churn import DEFAULT_OUT, NAME, build_pipeline, customers
from model.export import Description, save_model, training_main

VERSION = "1.1.0"
SEED = 11
ROWS = 3000


def train(out_dir: Path = DEFAULT_OUT) -> Path:
    """Fit, write churn_retrained.joblib and its metadata, return the artifact path."""
    X, y = customers(ROWS, SEED)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, random_state=SEED, stratify=y
    )
    pipeline = build_pipeline()
    pipeline.set_params(classify=LogisticRegression(C=0.05, max_iter=1000, random_state=SEED))
    pipeline.fit(X_train, y_train)
    accuracy = accuracy_score(y_test, pipeline.predict(X_test))
    artifact = out_dir / "churn_retrained.joblib"
    metrics = {"accuracy": round(float(accuracy), 4), "test_rows": len(y_test)}
    save_model(
        pipeline,
        artifact,
        Description(NAME, VERSION, metrics=metrics),
        X_test.head(5),
        reference=X_train,
    )
    return artifact


def main() -> None:
    training_main(train, __doc__ or "", DEFAULT_OUT)


if __name__ == "__main__":
    main()
