"""MLflow's own client, ScoringServerClient, against the app under `flask run`: it waits
for /ping, reads /version, sends DataFrames and arrays as MLflow's users do, and gets
exactly what /predict answers for the same rows, or MLflow's refusal with its place.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from support.iris import IRIS_FEATURES
from support.mlflow_users import (
    UNKNOWN_CONTRACT,
    churn_frame,
    iris_frame,
    plain_rows,
    pyproject_version,
)
from support.paths import CHURN_MODEL
from support.servers import LiveServer

from app.http.server_info import SERVER_VERSION

JSON = "application/json"


@pytest.fixture(scope="module")
def iris_server(live_server: Callable[..., LiveServer]) -> int:
    return live_server().port


@pytest.fixture(scope="module")
def churn_server(live_server: Callable[..., LiveServer]) -> int:
    return live_server(MODEL_URI=CHURN_MODEL).port


def live_predict(port: int, frame: pd.DataFrame) -> list[Any]:
    """What the live server's /predict answers for the frame's rows."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/predict",
        data=json.dumps({"instances": plain_rows(frame)}).encode(),
        headers={"Content-Type": JSON},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        predictions: list[Any] = json.loads(response.read())["predictions"]
    return predictions


_LOOPBACK = {"127.0.0.1", "::1", "localhost"}


@pytest.fixture(scope="module")
def scoring_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[type]:
    """MLflow's ScoringServerClient, imported with MLflow kept to tmp and to loopback:
    no telemetry, its home and tracking store in tmp, and no connection but to
    127.0.0.1. One tried elsewhere is refused, and fails the tests at the end even if
    MLflow swallowed the error."""
    home = tmp_path_factory.mktemp("mlflow-home")
    real_connect = socket.socket.connect
    elsewhere: list[str] = []

    def loopback_only(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOOPBACK:
            elsewhere.append(str(address[0]))
            raise ConnectionRefusedError(f"no connection to {address[0]} from these tests")
        real_connect(sock, address)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", loopback_only)
        for name, value in {
            "MLFLOW_DISABLE_TELEMETRY": "true",
            "DO_NOT_TRACK": "true",
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "MLFLOW_TRACKING_URI": (home / "mlruns").as_uri(),
            "NO_PROXY": "127.0.0.1,localhost",
        }.items():
            patch.setenv(name, value)
        from mlflow.pyfunc.scoring_server.client import ScoringServerClient
        from mlflow.telemetry import get_telemetry_client

        assert get_telemetry_client() is None
        yield ScoringServerClient
    assert elsewhere == []


# mlflow.types imports with a UserWarning about its own Any type hints (3.17.2).
mlflow_import_warning = pytest.mark.filterwarnings(
    "ignore:.*Any type hint is inferred as AnyType:UserWarning"
)


@mlflow_import_warning
def test_mlflow_client_waits_for_ping_and_reads_the_version(
    scoring_client: type, iris_server: int
) -> None:
    client = scoring_client("127.0.0.1", iris_server)
    client.wait_server_ready(timeout=30)
    assert client.get_version() == SERVER_VERSION == pyproject_version()


@mlflow_import_warning
def test_mlflow_client_invokes_an_iris_frame(scoring_client: type, iris_server: int) -> None:
    client = scoring_client("127.0.0.1", iris_server)
    frame = iris_frame()
    expected = live_predict(iris_server, frame)
    assert dict(client.invoke(frame)) == {"predictions": expected}
    assert dict(client.invoke(frame[list(reversed(IRIS_FEATURES))])) == {"predictions": expected}
    # A numpy array goes as inputs rows, in the schema's order.
    assert dict(client.invoke(frame.to_numpy())) == {"predictions": expected}
    # Read back as MLflow's users read it: a DataFrame.
    assert client.invoke(frame).get_predictions()[0].tolist() == expected


@mlflow_import_warning
def test_mlflow_client_invokes_a_churn_frame(scoring_client: type, churn_server: int) -> None:
    client = scoring_client("127.0.0.1", churn_server)
    client.wait_server_ready(timeout=30)
    frame = churn_frame()
    from mlflow.utils.proto_json_utils import dump_input_data

    # The body invoke() sends: the missing values, of numbers and strings, are NaN.
    assert dump_input_data(frame) == json.dumps({"dataframe_split": frame.to_dict("split")})
    assert dump_input_data(frame).count("NaN") == frame.isna().sum().sum() >= 3
    expected = live_predict(churn_server, frame)
    assert dict(client.invoke(frame)) == {"predictions": expected}
    assert dict(client.invoke(frame.sample(frac=1.0, axis=1, random_state=1))) == {
        "predictions": expected
    }


@mlflow_import_warning
def test_mlflow_client_sends_params(
    scoring_client: type, iris_server: int, churn_server: int
) -> None:
    params = {"temperature": 0.1, "max_tokens": 3, "stop": ["x"]}
    for port, frame in ((iris_server, iris_frame()), (churn_server, churn_frame())):
        client = scoring_client("127.0.0.1", port)
        assert dict(client.invoke(frame, params=params)) == {
            "predictions": live_predict(port, frame)
        }


@mlflow_import_warning
def test_mlflow_client_sees_a_refusal(scoring_client: type, churn_server: int) -> None:
    client = scoring_client("127.0.0.1", churn_server)
    frame = churn_frame().head(3)
    frame.loc[2, "contract"] = "weekly"
    with pytest.raises(Exception, match="error code 400") as raised:
        client.invoke(frame)
    answer = json.loads(str(raised.value).split("response: ", 1)[1].rstrip(")"))
    assert answer == {
        "error_code": "BAD_REQUEST",
        "message": "The input does not fit the model: 1 problem.",
        "details": [{"loc": "dataframe_split.data[2][2]", "msg": UNKNOWN_CONTRACT}],
    }


@mlflow_import_warning
def test_mlflow_client_waits_in_vain_while_the_model_is_unavailable(
    scoring_client: type, live_server: Callable[..., LiveServer], tmp_path: Path
) -> None:
    port = live_server(MODEL_URI=str(tmp_path / "missing.joblib")).port
    client = scoring_client("127.0.0.1", port)
    with pytest.raises(RuntimeError, match=r"ping failed \(error code 503\)"):
        client.wait_server_ready(timeout=1)
    assert client.get_version() == SERVER_VERSION
