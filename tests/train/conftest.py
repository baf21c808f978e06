"""Tiny, fast training set-ups: a generated audio set and a very small spectrogram and network."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from nightscan_edge.config import resolve_config
from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.train import TrainingCancelled, read_events, train

TINY_AUDIO = {"clip_samples": 4096, "n_fft": 256, "hop_length": 128, "n_mels": 16}
TINY_ULTRALIGHT = {"stem_channels": 8, "blocks": [[16, 2], [24, 2]], "dropout": 0.1}


@pytest.fixture(scope="session")
def synth_audio(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("synth") / "audio", per_class=6, seed=1)


@pytest.fixture(scope="session")
def synth_photo(tmp_path_factory):
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("synth") / "photo", kind="photo", per_class=6, image_size=32, seed=1
    )


def tiny_audio_config(data, **train):
    return resolve_config(
        {
            # masks in proportion to the tiny 16 x 33 spectrogram (the defaults suit 128 x 128)
            "data": {"path": str(data), "audio_augment": {"freq_mask_width": 3, "time_mask_width": 4}},
            "model": {"name": "ultralight_audio", "audio": TINY_AUDIO, "options": TINY_ULTRALIGHT},
            "train": {"epochs": 2, "batch_size": 8, "early_stopping_patience": None, "min_steps_per_epoch": 0, **train},
        }
    )


def cancelled_after_first_epoch(config, run_dir) -> None:
    """Train ``config`` in ``run_dir`` and SIGTERM this process once the first epoch has ended: a cancelled run,
    ready for ``--resume``."""

    def cancel() -> None:
        while not any(e["type"] == "epoch_end" for e in read_events(run_dir / "events.jsonl")):
            time.sleep(0.02)
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=cancel, daemon=True).start()
    with pytest.raises(TrainingCancelled):
        train(config, run_dir=run_dir, progress=False)
