"""Answers the protocols got wrong once, each found by fuzzing them against /openapi.json."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

INFER = "/v2/models/iris-logistic-regression/infer"


@pytest.mark.parametrize("data", [[5.0, 3, 1, 0], [[5.0, 3.0, 1.0, 0.0]]])
def test_v2_integer_data_written_with_a_zero_fraction_is_integers(
    client: FlaskClient, data: list
) -> None:
    # JSON does not tell 5 from 5.0, nor does JSON Schema's integer, nor the schema's integer
    # features; an INT64 tensor's 5.0 was refused with 400.
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "INT64", "data": data}
    response = client.post(INFER, json={"inputs": [tensor]})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["outputs"][0]["data"] == ["setosa"]


def test_v2_integer_data_with_a_fraction_is_still_refused(client: FlaskClient) -> None:
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "INT64", "data": [5.5, 3, 1, 0]}
    response = client.post(INFER, json={"inputs": [tensor]})
    assert response.status_code == 400
    assert [d["loc"] for d in response.get_json()["details"]] == ["inputs[0].data[0]"]
