"""Bad input to the BirdNET extractor, corpus style: clips too short for BirdNET and silent clips, through
``train --model birdnet_head`` and ``data prelabel``. Each case: exit code 2, ONE ``error:`` line naming the
problem, the input untouched, nothing half-written (no checkpoint, no embedding, no draft CSV, no clips)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import soundfile

from nightscan_edge.models.birdnet_extractor import MIN_CLIP_SECONDS, unusable_reason
from tests.birdnet.conftest import requires_birdnet
from tests.corpus.conftest import assert_one_line_error, tree_hash

RATE = 22050


def _write(path: Path, samples: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples.astype(np.float32), RATE)
    return path


def _tone(seconds: float) -> np.ndarray:
    return 0.3 * np.sin(2 * np.pi * 1500 * np.arange(int(seconds * RATE)) / RATE)


def _labelled_set(root: Path, samples: np.ndarray) -> Path:
    for label in ("owl", "fox"):
        for index in range(3):
            _write(root / label / f"{index}.wav", samples)
    return root


def test_unusable_reason_says_too_short_or_silent_and_keeps_short_audible_clips():
    assert "0.050 s" in unusable_reason(np.ones(2400, np.float32), 48000)  # 50 ms
    assert "silent" in unusable_reason(np.zeros(48000, np.float32), 48000)
    assert "silent" not in unusable_reason(np.zeros(10, np.float32), 48000)  # too short is said first
    assert unusable_reason(0.1 * np.ones(int(MIN_CLIP_SECONDS * 48000), np.float32), 48000) is None
    assert unusable_reason(_tone(1.0), RATE) is None  # 1 s: zero-filled to one 3 s window, not refused


TRAIN_CASES = {
    "silent": (np.zeros(RATE), ("6 of 6", "silent")),
    "too_short": (_tone(0.05), ("6 of 6", "0.050 s", f"{MIN_CLIP_SECONDS:g} s")),
}


@requires_birdnet
@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_head_training_on_unusable_clips_fails_in_one_line_before_birdnet_runs(case, tmp_path, cli):
    samples, words = TRAIN_CASES[case]
    data = _labelled_set(tmp_path / "data", samples)
    cache, run = tmp_path / "cache", tmp_path / "run"
    before = tree_hash(data)
    code, stderr = cli(
        "train", "--data", data, "--model", "birdnet_head", "--run-dir", run, "--set", f"data.cache_dir={cache}"
    )
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(data) == before
    assert not list(cache.rglob("*.npy")) and not list(cache.rglob("*.tmp*"))  # nothing computed, nothing half
    assert not (run / "best.ckpt").exists() and not (run / "report.json").exists()
    assert json.loads((run / "status.json").read_text())["status"] == "failed"


PRELABEL_CASES = {
    "silent": (np.zeros(4 * RATE), ("every window", "silent")),
    "too_short": (_tone(0.05), ("no recording could be used", "0.050 s", f"{MIN_CLIP_SECONDS:g} s")),
}


@requires_birdnet
@pytest.mark.parametrize("case", sorted(PRELABEL_CASES))
def test_prelabel_of_unusable_recordings_fails_in_one_line_and_writes_nothing(case, tmp_path, cli):
    samples, words = PRELABEL_CASES[case]
    recordings = tmp_path / "night"
    _write(recordings / "night.wav", samples)
    before = tree_hash(recordings)
    out = tmp_path / "draft.csv"
    code, stderr = cli("data", "prelabel", recordings, "--out", out)
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(recordings) == before
    assert not out.exists() and not (tmp_path / "draft-clips").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["night"]  # no temporary left behind either
