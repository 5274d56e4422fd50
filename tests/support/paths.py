"""Where the repository and the files the tests read are."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# Data the tests read (events/, stacks/) and the user's code they train with
# (user_project/, date_features.py).
TESTS = ROOT / "tests"
# The example model fitted on a pandas DataFrame; its metadata says "model_input": "dataframe".
CHURN_MODEL = "model/examples/churn.joblib"
