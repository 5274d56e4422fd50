"""Settings come from the environment; a bad one stops start-up and names itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.core.errors import ConfigError
from app.core.pins import Pins
from app.factory import create_app
from app.service.settings import BUNDLED_MODEL, Settings


def test_defaults_serve_the_bundled_model() -> None:
    settings = Settings.from_environ({})
    assert settings == Settings(
        model_uri=str(BUNDLED_MODEL),
        model_pins=Pins(),
        model_cache_dir=Path("/tmp/model-cache"),
        max_batch_rows=1000,
        max_content_length=1024 * 1024,
        allow_version_mismatch=False,
        log_level="INFO",
    )
    assert BUNDLED_MODEL.is_file()


def test_values_are_read() -> None:
    settings = Settings.from_environ(
        {
            "MODEL_URI": "s3://models/iris/v2.joblib",
            "MODEL_SHA256": "AB" * 32,
            "MODEL_METADATA_SHA256": " " + "CD" * 32 + " ",
            "MODEL_CODE_SHA256": "ef" * 32,
            "MODEL_CACHE_DIR": "/var/cache/models",
            "MAX_BATCH_ROWS": "50",
            "MAX_CONTENT_LENGTH": "2048",
            "ALLOW_VERSION_MISMATCH": "true",
        }
    )
    assert settings.model_uri == "s3://models/iris/v2.joblib"
    assert settings.model_pins.artifact == "ab" * 32
    # Pins are compared as lowercase hex, whatever case the deploy wrote them in.
    assert settings.model_pins.metadata == "cd" * 32
    assert settings.model_pins.code == "ef" * 32
    assert settings.model_cache_dir == Path("/var/cache/models")
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
        ("MODEL_URI", "s3://bucket-only"),
        ("MODEL_URI", "s3://bucket/folder/"),
        ("MODEL_URI", "https://example.com/model.joblib"),
        ("MODEL_SHA256", "abc123"),
        ("MODEL_METADATA_SHA256", "g" * 64),
        ("MODEL_CODE_SHA256", "ab" * 33),
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
    assert response.status_code == 413
    assert "at most 2 rows" in response.get_data(as_text=True)


def test_model_path_is_an_alias_of_model_uri() -> None:
    alias = Settings.from_environ({"MODEL_PATH": "/opt/models/m.joblib"})
    assert alias.model_uri == "/opt/models/m.joblib"
    both = Settings.from_environ({"MODEL_PATH": "/m.joblib", "MODEL_URI": "/m.joblib"})
    assert both.model_uri == "/m.joblib"
    with pytest.raises(ConfigError, match=r"MODEL_URI .* and MODEL_PATH .* differ"):
        Settings.from_environ({"MODEL_PATH": "/a.joblib", "MODEL_URI": "s3://b/a.joblib"})


def test_json_depth_limit_is_read_within_its_range() -> None:
    assert Settings.from_environ({}).max_json_depth == 32
    assert Settings.from_environ({"MAX_JSON_DEPTH": "3"}).max_json_depth == 3
    assert Settings.from_environ({"MAX_JSON_DEPTH": " 512 "}).max_json_depth == 512


@pytest.mark.parametrize("value", ["deep", "2", "0", "-1", "513", "1e3"])
def test_json_depth_limit_out_of_range_fails_start_up(value: str) -> None:
    with pytest.raises(ConfigError, match=r"MAX_JSON_DEPTH must be an integer from 3 to 512"):
        create_app({"MAX_JSON_DEPTH": value})
