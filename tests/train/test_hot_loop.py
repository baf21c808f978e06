"""The training hot loop: no step waits for the device, and a diverged loss still stops the run with one line
before any checkpoint of its weights is marked best."""

from __future__ import annotations

import json
import math

import pytest
import torch

from nightscan_edge.config import resolve_config
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec
from nightscan_edge.train import train
from nightscan_edge.train.module import ClassifierModule, NonFiniteLossError
from tests.train.conftest import TINY_ULTRALIGHT, tiny_audio_config

SYNCING = ("item", "__bool__", "__float__", "__int__", "tolist")


def _photo_config(data, **train_options):
    return resolve_config(
        {
            "data": {"path": str(data)},
            "model": {"name": "mobilenet_v3_small_photo", "image_size": 32},
            "train": {"epochs": 1, "batch_size": 8, "min_steps_per_epoch": 3, **train_options},
        }
    )


def _noisy_audio_config(data):
    """The tiny audio set with every augmentation on, background noise (generated) mixed into half the clips."""
    config = tiny_audio_config(data, epochs=1, min_steps_per_epoch=3)
    audio = config.data.audio_augment.model_copy(update={"noise_mix_probability": 0.5})
    return config.model_copy(update={"data": config.data.model_copy(update={"audio_augment": audio})})


@pytest.mark.parametrize("kind", ["photo", "audio"])
def test_a_training_step_never_reads_a_tensor_back(kind, synth_photo, synth_audio, tmp_path, monkeypatch):
    """Reading a value (``.item()``, ``bool``, ``float``) off a CUDA tensor makes the loop wait for the GPU; the
    step (augmentation, forward, loss, the non-finite flag, the running sums) must not do it."""
    original = ClassifierModule.training_step
    steps = []

    def guarded(self, batch, batch_idx):
        saved = {name: getattr(torch.Tensor, name) for name in SYNCING}

        def refuse(name):
            def read(*args, **kwargs):
                raise AssertionError(f"training_step read a tensor back with {name}")

            return read

        try:
            for name in SYNCING:
                setattr(torch.Tensor, name, refuse(name))
            return original(self, batch, batch_idx)
        finally:
            for name, method in saved.items():
                setattr(torch.Tensor, name, method)
            steps.append(batch_idx)

    monkeypatch.setattr(ClassifierModule, "training_step", guarded)
    config = _photo_config(synth_photo) if kind == "photo" else _noisy_audio_config(synth_audio)
    train(config, run_dir=tmp_path / "run", progress=False)
    assert len(steps) == 3


def test_the_first_non_finite_loss_is_named_when_the_flag_is_read():
    config = resolve_config({"model": {"name": "ultralight_audio"}})
    model = create_model("ultralight_audio", 2, **TINY_ULTRALIGHT)
    module = ClassifierModule(model, ["a", "b"], config, "run")
    module.note_loss(torch.tensor(0.5), 0)
    module.check_training_loss()  # finite so far: nothing to say
    module.note_loss(torch.tensor(math.inf), 3)
    module.note_loss(torch.tensor(math.nan), 4)  # later ones do not replace the first
    with pytest.raises(NonFiniteLossError, match=r"training \(epoch 1, batch 4\) loss became inf .*train\.lr"):
        module.check_training_loss()


def test_a_diverged_run_fails_with_one_line_and_no_nan_best_checkpoint(synth_audio, tmp_path):
    run_dir = tmp_path / "diverged"
    config = tiny_audio_config(synth_audio, lr=1e30, optimizer="sgd", epochs=2)
    with pytest.raises(NonFiniteLossError) as caught:
        train(config, run_dir=run_dir, progress=False)
    message = str(caught.value)
    assert "\n" not in message and "loss became" in message and "train.lr" in message
    status = json.loads((run_dir / "status.json").read_text())
    assert status["status"] == "failed" and "loss became" in status["error"]
    for line in (run_dir / "events.jsonl").read_text().splitlines():
        json.loads(line, parse_constant=lambda token: pytest.fail(f"{token} in events.jsonl"))
    assert not (run_dir / "best.ckpt").exists()


def test_the_progress_bar_reads_the_figures_back_at_most_twice_a_second(monkeypatch):
    """Lightning's bar reads the logged loss back (a wait for the GPU) on every refresh; ours reuses its figures
    for ``BATCH_EVENT_SECONDS``, and shows the validation figures as soon as they exist."""
    import lightning as L

    from nightscan_edge.train.callbacks import OneBasedProgressBar

    reads = []

    def read(self, trainer, module):
        reads.append(1)
        return {"read": len(reads)}

    monkeypatch.setattr(L.pytorch.callbacks.TQDMProgressBar, "get_metrics", read)
    monkeypatch.setattr(L.pytorch.callbacks.TQDMProgressBar, "on_validation_end", lambda self, trainer, module: None)
    bar = OneBasedProgressBar()
    shown = [bar.get_metrics(None, None) for _ in range(100)]  # a hundred batches within half a second
    assert len(reads) == 1 and shown[-1] == {"read": 1}
    bar.on_validation_end(None, None)
    assert bar.get_metrics(None, None) == {"read": 2} and len(reads) == 2


@pytest.mark.parametrize("objective", ["single_label", "multilabel"])
def test_each_step_draws_as_many_unlabelled_windows_as_labelled_ones(objective):
    # A multi-label target is (batch, classes): sizing the unlabelled draw by its element count made every step
    # 7x larger on a 7-class set.
    config = resolve_config({"model": {"name": "ultralight_audio"}, "train": {"objective": objective}})
    model = create_model("ultralight_audio", 3, **TINY_ULTRALIGHT)
    samples = AudioSpec().clip_samples
    drawn: list[int] = []

    class Teacher:
        alpha, temperature, licence = 0.5, 2.0, None

        def distillation_loss(self, logits, raw, inputs, hard_loss, positions=None):
            return hard_loss

    class Unlabeled:
        def batch(self, rng, size):
            drawn.append(size)
            return torch.randn(size, samples), torch.randn(size, 3)

    module = ClassifierModule(model, ["a", "b", "c"], config, "run", teacher=Teacher(), unlabeled=Unlabeled())
    module.on_train_epoch_start()
    x = torch.randn(5, samples)
    y = (
        torch.tensor([[1.0, 0, 1], [0, 1, 0], [0, 0, 0], [1, 1, 1], [0, 0, 1]])
        if objective == "multilabel"
        else torch.tensor([0, 1, 2, 0, 1])
    )
    loss = module.training_step((x, y), 0)
    assert drawn == [5] and torch.isfinite(loss)
