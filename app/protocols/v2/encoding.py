"""The V2 protocol's answers: an infer request's outputs, each in JSON or as Triton's
binary tensor data, and the model's metadata document."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations, product
from typing import Any

from app.core.answers import answer_body, json_text, label_key, plain_values
from app.core.decoding import JSON_TYPE
from app.core.predictor import Outcome, Predictor
from app.core.schema import Feature, Schema
from app.http.answer_size import WORST_CHARACTER, Encoded
from app.protocols.v2.decoding import MAX_ID_LENGTH, PREDICT, PREDICT_PROBA, available_outputs
from app.protocols.v2.tensors import (
    BINARY_TYPE,
    DATETIME_CONTENT_TYPE,
    FEATURE_DATATYPE,
    datatype_of,
    datatype_of_labels,
    to_binary,
)

PLATFORM = "scikit-learn"
# The one tensor of an all-number model, as the model's metadata names it; any name that
# is not a feature's is read the same way.
MATRIX_INPUT = "input-0"
# The model metadata's parameter that gives the most rows one request may hold.
MAX_BATCH_ROWS_PARAMETER = "max_batch_rows"


def encoded_answer(
    predictor: Predictor,
    outputs: Sequence[tuple[str, bool]],
    request_id: str | None,
    outcome: Outcome,
) -> tuple[Encoded, int | None]:
    """The answer to an infer request, and when it carries binary outputs, the length of
    its JSON header."""
    tensors: list[tuple[dict[str, Any], list[Any], bool]] = []
    for name, binary in outputs:
        if name == PREDICT:
            array = outcome.predictions
            flat = plain_values(array.reshape(-1))
            datatype = datatype_of(flat)
        else:
            assert outcome.probabilities is not None
            array = outcome.probabilities[0]
            flat = array.reshape(-1).tolist()
            datatype = "FP64"
        if datatype == "BYTES" and set(map(type, flat)) != {str}:
            flat = [label_key(value) for value in flat]
        tensor: dict[str, Any] = {"name": name, "shape": list(array.shape), "datatype": datatype}
        tensors.append((tensor, flat, binary))
    head: dict[str, Any] = {
        "model_name": predictor.metadata.name,
        "model_version": predictor.version,
    }
    if request_id is not None:
        head["id"] = request_id
    blobs = []
    for tensor, flat, binary in tensors:
        if binary:
            blob = to_binary(flat, tensor["datatype"])
            tensor["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        else:
            tensor["data"] = flat
    head["outputs"] = [tensor for tensor, _, _ in tensors]
    if not blobs:
        return Encoded(answer_body(head), JSON_TYPE), None
    header = json_text(head).encode("ascii")
    return Encoded(b"".join([header, *blobs]), BINARY_TYPE), len(header)


_WORST_ID = WORST_CHARACTER * MAX_ID_LENGTH


def batch_answers(predictor: Predictor, outcome: Outcome) -> list[Encoded]:
    """Every answer to a batch: each set of the outputs offered, each output in JSON or
    binary, with the longest id a request may give."""
    offered = available_outputs(predictor)
    answers = []
    for count in range(1, len(offered) + 1):
        for names in combinations(offered, count):
            for binary in product((False, True), repeat=count):
                outputs = list(zip(names, binary, strict=True))
                answers.append(encoded_answer(predictor, outputs, _WORST_ID, outcome)[0])
    return answers


def model_metadata_document(predictor: Predictor, max_rows: int) -> dict[str, Any]:
    """The model's metadata: its inputs, its outputs and the most rows a request may hold."""
    return {
        "name": predictor.metadata.name,
        "versions": [predictor.version],
        "platform": PLATFORM,
        "inputs": input_metadata(predictor.schema),
        "outputs": output_metadata(predictor),
        "parameters": {MAX_BATCH_ROWS_PARAMETER: max_rows},
    }


def input_metadata(schema: Schema) -> list[dict[str, Any]]:
    """The inputs the model's metadata lists: the one tensor, or one per feature."""
    if schema.all_numeric:
        return [{"name": MATRIX_INPUT, "datatype": "FP64", "shape": [-1, len(schema.names)]}]
    return [_input_tensor(feature) for feature in schema.features]


def _input_tensor(feature: Feature) -> dict[str, Any]:
    tensor: dict[str, Any] = {
        "name": feature.name,
        "datatype": FEATURE_DATATYPE[feature.type],
        "shape": [-1],
    }
    if feature.type == "datetime":
        # BYTES alone reads as text: say which, as MLServer's datetime codec does.
        tensor["parameters"] = {"content_type": DATETIME_CONTENT_TYPE}
    return tensor


def output_metadata(predictor: Predictor) -> list[dict[str, Any]]:
    metadata = predictor.metadata
    if metadata.task == "regression":
        datatype = "FP64"
    elif metadata.task == "classification":
        classes = (
            metadata.classes
            if metadata.outputs is None
            else [label for output in metadata.outputs for label in output.classes]
        )
        datatype = datatype_of_labels(classes)
    else:
        datatype = "INT64"  # a cluster's index, or 1 and -1 for inliers and outliers
    shape = [-1] if metadata.outputs is None else [-1, len(metadata.outputs)]
    outputs = [{"name": PREDICT, "datatype": datatype, "shape": shape}]
    if PREDICT_PROBA in available_outputs(predictor):
        outputs.append(
            {"name": PREDICT_PROBA, "datatype": "FP64", "shape": [-1, len(metadata.classes)]}
        )
    return outputs
