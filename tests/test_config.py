"""Settings come from the environment; a bad one stops start-up and names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from app import create_app
from app.config import BUNDLED_MODEL, ConfigError, Settings


def test_defaults_serve_the_bundled_model() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings(
        model_path=BUNDLED_MODEL,
        max_batch_rows=1000,
        max_content_length=1024 * 1024,
        allow_version_mismatch=False,
        log_level="INFO",
    )
    assert BUNDLED_MODEL.is_file()


def test_values_are_read() -> None:
    settings = Settings.from_environ(
        {
            "MODEL_PATH": "/opt/models/m.joblib",
            "MAX_BATCH_ROWS": "50",
            "MAX_CONTENT_LENGTH": "2048",
            "ALLOW_VERSION_MISMATCH": "true",
        }
    )
    assert settings.model_path == Path("/opt/models/m.joblib")
    assert (settings.max_batch_rows, settings.max_content_length) == (50, 2048)
    assert settings.allow_version_mismatch is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("MAX_BATCH_ROWS", "many"),
        ("MAX_BATCH_ROWS", "0"),
        ("MAX_BATCH_ROWS", "-5"),
        ("MAX_CONTENT_LENGTH", "1MB"),
        ("MAX_CONTENT_LENGTH", "1.5"),
        ("ALLOW_VERSION_MISMATCH", "maybe"),
        ("LOG_LEVEL", "LOUD"),
    ],
)
def test_bad_setting_fails_start_up_naming_the_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name) as caught:
        create_app({name: value})
    assert repr(value) in str(caught.value)


def test_environment_is_the_default_source(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_BATCH_ROWS", "2")
    client = create_app().test_client()
    response = client.post("/predict", json={"instances": [[1, 2, 3, 4]] * 3})
    assert response.status_code == 422
    assert "at most 2 rows" in response.get_data(as_text=True)
