"""What Triton's own HTTP client (tritonclient[http]) must get from our V2 routes, against
any server of ours: `flask run`, or the function behind `sls offline`.

Each check calls the server with tritonclient as a user would, in JSON
(binary_data=False) and with its binary default, and holds the answers to the same
server's /predict for the same rows.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException

from app.http.server_info import SERVER_NAME, SERVER_VERSION
from support.v2_tensors import (
    CHURN,
    CHURN_CLASSES,
    CHURN_DATATYPES,
    IRIS,
    IRIS_CLASSES,
    IRIS_ROWS,
    churn_rows,
    column,
    expected_outputs,
)

# (binary inputs, binary outputs) and whether outputs are named at all: with
# outputs=None tritonclient asks for every output as binary (binary_data_output).
MODES = [
    pytest.param(False, False, True, id="json"),
    pytest.param(True, True, True, id="binary"),
    pytest.param(False, True, True, id="json-in-binary-out"),
    pytest.param(True, False, True, id="binary-in-json-out"),
    pytest.param(True, True, False, id="outputs-none"),
]
Native = Callable[[list[Any]], dict[str, Any]]


def client_for(base_url: str) -> triton.InferenceServerClient:
    """tritonclient's client for an http:// base URL (it takes no scheme; a path stays)."""
    return triton.InferenceServerClient(url=base_url.removeprefix("http://"))


def native_over_http(base_url: str) -> Native:
    """The same server's /predict, batch with probabilities, over HTTP."""

    def predict(rows: list[Any]) -> dict[str, Any]:
        body = json.dumps({"instances": rows, "return_probabilities": True}).encode()
        request = urllib.request.Request(
            base_url + "/predict", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            answer: dict[str, Any] = json.loads(response.read())
        return answer

    return predict


def check_health_and_metadata(client: triton.InferenceServerClient, model: str) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready(model)
    assert client.is_model_ready(model, "1.0.0")
    assert not client.is_model_ready("no-such-model")
    assert not client.is_model_ready(model, "9.9.9")
    assert client.get_server_metadata() == {
        "name": SERVER_NAME,
        "version": SERVER_VERSION,
        "extensions": ["binary_tensor_data"],
    }
    metadata = client.get_model_metadata(model)
    assert metadata == client.get_model_metadata(model, "1.0.0")
    assert (metadata["name"], metadata["versions"], metadata["platform"]) == (
        model,
        ["1.0.0"],
        "scikit-learn",
    )
    with pytest.raises(InferenceServerException) as unknown:
        client.get_model_metadata("no-such-model")
    assert unknown.value.status() == "404"


def _plain(array: np.ndarray) -> list[Any]:
    """An output as plain values: BYTES come back as bytes in binary, str in JSON."""
    return [v.decode() if isinstance(v, bytes) else v for v in array.reshape(-1).tolist()]


def _infer(
    client: triton.InferenceServerClient,
    model: str,
    inputs: Sequence[triton.InferInput],
    binary_out: bool,
    named_outputs: bool,
) -> dict[str, list[Any]]:
    outputs = (
        [
            triton.InferRequestedOutput("predict", binary_data=binary_out),
            triton.InferRequestedOutput("predict_proba", binary_data=binary_out),
        ]
        if named_outputs
        else None
    )
    result = client.infer(model, list(inputs), outputs=outputs, request_id="triton-1")
    response = result.get_response()
    assert response["id"] == "triton-1"
    assert response["model_name"] == model and response["model_version"] == "1.0.0"
    names = ["predict", "predict_proba"] if named_outputs else ["predict"]
    assert [output["name"] for output in response["outputs"]] == names
    for output in response["outputs"]:
        assert ("parameters" in output) == binary_out  # binary_data_size, or data
    got = {name: _plain(result.as_numpy(name)) for name in names}
    if named_outputs:
        classes = len(IRIS_CLASSES) if model == IRIS else len(CHURN_CLASSES)
        assert result.as_numpy("predict_proba").shape == (len(got["predict"]), classes)
    return got


def check_iris(
    client: triton.InferenceServerClient,
    native: Native,
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    for dtype, datatype in ((np.float64, "FP64"), (np.float32, "FP32")):
        values = np.array(IRIS_ROWS, dtype=dtype)
        tensor = triton.InferInput("input-0", list(values.shape), datatype)
        tensor.set_data_from_numpy(values, binary_data=binary_in)
        got = _infer(client, IRIS, [tensor], binary_out, named_outputs)
        rows = values.astype(np.float64).tolist()  # what the server reads, FP32 included
        expected = expected_outputs(native(rows), IRIS_CLASSES)
        assert got == {name: expected[name] for name in got}


def churn_inputs(rows: list[dict[str, Any]], binary: bool) -> list[triton.InferInput]:
    """One input per feature, as numpy arrays of each datatype; a missing number as NaN."""
    arrays = {
        "tenure_months": np.array(column(rows, "tenure_months"), dtype=np.int64),
        "monthly_charges": np.array(column(rows, "monthly_charges"), dtype=np.float64),
        "contract": np.array(column(rows, "contract"), dtype=object),
        "payment_method": np.array(column(rows, "payment_method"), dtype=object),
        "has_partner": np.array(column(rows, "has_partner"), dtype=bool),
        "support_calls": np.array(
            [np.nan if v is None else v for v in column(rows, "support_calls")], dtype=np.float64
        ),
    }
    inputs = []
    for name, datatype in CHURN_DATATYPES.items():
        tensor = triton.InferInput(name, [len(rows)], datatype)
        tensor.set_data_from_numpy(arrays[name], binary_data=binary)
        inputs.append(tensor)
    return inputs


def check_churn(
    client: triton.InferenceServerClient,
    native: Native,
    binary_in: bool,
    binary_out: bool,
    named_outputs: bool,
) -> None:
    rows = churn_rows(6)
    assert None in column(rows, "support_calls")
    got = _infer(client, CHURN, churn_inputs(rows, binary_in), binary_out, named_outputs)
    expected = expected_outputs(native(rows), CHURN_CLASSES)
    assert got == {name: expected[name] for name in got}


def check_churn_error(client: triton.InferenceServerClient, binary: bool) -> None:
    """A refused value reaches tritonclient's exception with its place."""
    rows = churn_rows(2)
    rows[1]["contract"] = "weekly"
    with pytest.raises(InferenceServerException) as refused:
        client.infer(CHURN, churn_inputs(rows, binary))
    assert refused.value.status() == "400"
    assert 'inputs[2].data[1]: unknown category "weekly"' in refused.value.message()
