"""Crafted pickles: every way a checkpoint reaches the code loads it with ``weights_only=True``, so a ``.ckpt``
whose unpickling would run ``touch MARKER`` is refused with one line and the marker never appears."""

from __future__ import annotations

import json

import pytest
import torch

from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.safe_load import UnsafeCheckpointError
from tests.corpus.conftest import assert_one_line_error, tree_hash, write_evil_checkpoint
from tests.train.conftest import TINY_AUDIO, TINY_ULTRALIGHT


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "PWNED"
    return write_evil_checkpoint(tmp_path / "evil" / "best.ckpt", marker), marker


def test_load_trained_model_refuses_a_crafted_pickle(evil):
    path, marker = evil
    with pytest.raises(UnsafeCheckpointError, match="pickled Python objects") as caught:
        load_trained_model(path)
    assert "\n" not in str(caught.value) and "posix.system" in str(caught.value)
    assert not marker.exists()


def _tiny_flags():
    audio = ",".join(f"{k}: {v}" for k, v in TINY_AUDIO.items())
    return [
        "--set",
        f"model.audio={{{audio}}}",
        "--set",
        f"model.options={json.dumps(TINY_ULTRALIGHT)}",
        "--epochs",
        "1",
        "--no-progress",
    ]


@pytest.mark.parametrize(
    "how", ["init_from_file", "init_from_folder", "teacher", "serve_model", "predict_run", "export", "prune"]
)
def test_cli_refuses_a_crafted_pickle(how, evil, corpus_audio, tmp_path, cli):
    path, marker = evil
    before = tree_hash(path.parent, corpus_audio)
    argv = {
        "init_from_file": [
            "train",
            "--data",
            corpus_audio,
            "--model",
            "ultralight_audio",
            "--init-from",
            path,
            "--run-dir",
            tmp_path / "run",
            *_tiny_flags(),
        ],
        "init_from_folder": [
            "train",
            "--data",
            corpus_audio,
            "--model",
            "ultralight_audio",
            "--init-from",
            path.parent,
            "--run-dir",
            tmp_path / "run",
            *_tiny_flags(),
        ],
        "teacher": [
            "train",
            "--data",
            corpus_audio,
            "--model",
            "ultralight_audio",
            "--teacher",
            path.parent,
            "--run-dir",
            tmp_path / "run",
            *_tiny_flags(),
        ],
        "serve_model": ["serve-model", path, "--port", "0"],
        "predict_run": ["predict", path.parent, *sorted(corpus_audio.rglob("*.wav"))[:1]],
        "export": ["export", path.parent, "--out", tmp_path / "exports"],
        "prune": ["prune", path.parent, "--target-macs", "0.5", "--no-progress"],
    }[how]
    code, stderr = cli(*argv)
    assert code == 2
    assert_one_line_error(stderr, str(path.parent.name))
    assert not marker.exists(), "the pickle ran"
    assert tree_hash(path.parent, corpus_audio) == before


def test_resume_refuses_a_crafted_last_checkpoint_and_changes_nothing(run_copy, tmp_path, cli):
    marker = tmp_path / "PWNED"
    status = json.loads((run_copy / "status.json").read_text())
    (run_copy / "report.json").unlink()  # an interrupted run: the resumable kind
    (run_copy / "status.json").write_text(json.dumps({**status, "status": "cancelled"}))
    real = torch.load(run_copy / "last.ckpt", map_location="cpu", weights_only=True)
    write_evil_checkpoint(run_copy / "last.ckpt", marker, template=real)
    before = tree_hash(run_copy)
    code, stderr = cli("train", "--resume", run_copy, "--no-progress")
    assert code == 2
    assert_one_line_error(stderr, "refused", "last.ckpt")
    assert not marker.exists()
    assert tree_hash(run_copy) == before
