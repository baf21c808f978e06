"""Bad input to ``birdnet_backbone_audio`` (BirdNET rebuilt in PyTorch), corpus style: a TFLite file that is not
BirdNET V2.4, a birdnet_head whose head does not read BirdNET's 1024-d embedding, and a pruning budget no pruning can
reach. Each case: exit code 2, ONE ``error:`` line naming the problem, the inputs untouched, no checkpoint, report or
pruned run written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nightscan_edge.config import resolve_config
from nightscan_edge.train import train
from tests.birdnet.conftest import requires_birdnet
from tests.corpus.conftest import assert_one_line_error, tree_hash

pytestmark = [requires_birdnet, pytest.mark.slow]
TINY_TRAIN = {"epochs": 1, "batch_size": 4, "min_steps_per_epoch": 1, "limit_train_batches": 1}


def foreign_tflite(path: Path) -> Path:
    """A valid LiteRT file that is not BirdNET: one RELU on a (1, 144000) input (what a wrong --set points at)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT()
    model.version = 3
    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.RELU
    code.version = 1
    model.operatorCodes = [code]
    model.buffers = [schema.BufferT(), schema.BufferT(), schema.BufferT()]
    tensors = []
    for index, name in enumerate(("input", "output")):
        tensor = schema.TensorT()
        tensor.shape, tensor.type, tensor.buffer, tensor.name = [1, 144000], schema.TensorType.FLOAT32, index + 1, name
        tensors.append(tensor)
    operator = schema.OperatorT()
    operator.opcodeIndex, operator.inputs, operator.outputs = 0, [0], [1]
    subgraph = schema.SubGraphT()
    subgraph.tensors, subgraph.inputs, subgraph.outputs, subgraph.operators = tensors, [0], [1], [operator]
    model.subgraphs = [subgraph]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    path.write_bytes(builder.Output())
    return path


@pytest.fixture(scope="module")
def mlp_head_run(corpus_audio, tmp_path_factory) -> Path:
    """A birdnet_head run with an MLP head: its classifier reads 64-d features, not BirdNET's 1024-d embedding."""
    folder = tmp_path_factory.mktemp("bn-runs")
    config = resolve_config(
        {
            "data": {"path": str(corpus_audio), "cache_dir": str(folder / "cache")},
            "model": {"name": "birdnet_head", "options": {"head": "mlp", "hidden": 64}},
            "train": TINY_TRAIN,
        }
    )
    return train(config, run_dir=folder / "mlp-head", progress=False).run_dir


@pytest.fixture(scope="module")
def backbone_run(corpus_audio, tmp_path_factory) -> Path:
    """A one-step birdnet_backbone_audio run: what ``prune`` takes."""
    folder = tmp_path_factory.mktemp("bb-runs")
    config = resolve_config(
        {"data": {"path": str(corpus_audio)}, "model": {"name": "birdnet_backbone_audio"}, "train": TINY_TRAIN}
    )
    return train(config, run_dir=folder / "backbone", progress=False).run_dir


def _assert_no_model_written(run: Path) -> None:
    assert not (run / "best.ckpt").exists() and not (run / "report.json").exists()
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


@pytest.mark.parametrize("kind", ["foreign_graph", "not_a_tflite"])
def test_a_tflite_that_is_not_birdnet_v24_is_refused_in_one_line(kind, corpus_audio, tmp_path, cli):
    tflite = tmp_path / "other.tflite"
    if kind == "foreign_graph":
        foreign_tflite(tflite)
    else:
        tflite.write_bytes(b"TFL3 but not a flatbuffer at all" * 4)
    before = tree_hash(tflite, corpus_audio)
    run = tmp_path / "run"
    code, stderr = cli(
        "train", "--data", corpus_audio, "--model", "birdnet_backbone_audio", "--run-dir", run,
        "--set", f"model.options.tflite={tflite}", "--epochs", "1", "--no-progress",
    )  # fmt: skip
    assert code == 2
    assert_one_line_error(stderr, "other.tflite", "BirdNET V2.4" if kind == "foreign_graph" else "not a readable")
    assert tree_hash(tflite, corpus_audio) == before
    _assert_no_model_written(run)


def test_a_head_that_does_not_read_the_1024d_embedding_is_refused_in_one_line(
    mlp_head_run, corpus_audio, tmp_path, cli
):
    before = tree_hash(mlp_head_run)
    run = tmp_path / "run"
    code, stderr = cli(
        "train", "--data", corpus_audio, "--model", "birdnet_backbone_audio", "--init-from", mlp_head_run,
        "--run-dir", run, "--epochs", "1", "--no-progress",
    )  # fmt: skip
    assert code == 2
    assert_one_line_error(stderr, "64-d", "1024-d", "linear")
    assert tree_hash(mlp_head_run) == before
    _assert_no_model_written(run)


def test_a_size_budget_no_pruning_reaches_is_refused_before_pruning(backbone_run, tmp_path, cli):
    before = tree_hash(backbone_run)
    siblings = sorted(p.name for p in backbone_run.parent.iterdir())
    code, stderr = cli("prune", backbone_run, "--target-size-mb", "1", "--no-progress")
    assert code == 2
    assert_one_line_error(stderr, "--target-size-mb 1", "front-end", "MB")
    assert tree_hash(backbone_run) == before
    assert sorted(p.name for p in backbone_run.parent.iterdir()) == siblings  # no pruned run folder
