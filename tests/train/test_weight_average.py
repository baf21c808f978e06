"""``train.ema_decay``: the checkpoint holds the moving average of the optimizer's weights, and cancel +
``--resume`` ends with the same average and weights as an uninterrupted run."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from nightscan_edge.train import train
from tests.train.conftest import cancelled_after_first_epoch, tiny_audio_config

DECAY = 0.8


class StepWeights(L.Callback):
    """The network's floating-point parameters after every optimizer step (callbacks run in order: the
    average has been updated with the same weights when this one reads them)."""

    def __init__(self) -> None:
        self.steps: list[dict[str, torch.Tensor]] = []

    def on_train_batch_end(self, trainer, module, *args) -> None:
        self.steps.append({k: v.detach().clone() for k, v in module.named_parameters()})


def test_checkpoint_holds_the_moving_average_of_every_steps_weights(synth_audio, tmp_path):
    seen = StepWeights()
    config = tiny_audio_config(synth_audio, epochs=2, ema_decay=DECAY)
    run = train(config, run_dir=tmp_path / "r", progress=False, callbacks=[seen])
    assert len(seen.steps) > 3
    expected = dict(seen.steps[0])  # the average starts at the first step's weights
    for weights in seen.steps[1:]:
        expected = {k: DECAY * expected[k] + (1 - DECAY) * weights[k] for k in expected}
    last = torch.load(run.run_dir / "last.ckpt", map_location="cpu", weights_only=True)
    for name, value in expected.items():
        torch.testing.assert_close(last["state_dict"][name], value, rtol=1e-5, atol=1e-6)
    # the training weights travel beside the average, and they are not the average
    for name, value in seen.steps[-1].items():
        assert torch.equal(last["current_model_state"][name], value)
    assert any(not torch.allclose(last["state_dict"][k], seen.steps[-1][k]) for k in expected)
    best = torch.load(run.best_checkpoint, map_location="cpu", weights_only=True)
    assert set(best["state_dict"]) == set(last["current_model_state"])  # exports read the average like any run


@pytest.mark.slow
def test_resume_with_a_weight_average_equals_an_uninterrupted_run(synth_audio, tmp_path):
    config = tiny_audio_config(synth_audio, epochs=3, scheduler="cosine", ema_decay=DECAY)
    reference = train(config, run_dir=tmp_path / "reference", progress=False)
    interrupted = tmp_path / "interrupted"
    cancelled_after_first_epoch(config, interrupted)
    resumed = train(resume=interrupted, progress=False)
    for name in ("last.ckpt", "best.ckpt"):
        a = torch.load(reference.run_dir / name, map_location="cpu", weights_only=True)
        b = torch.load(interrupted / name, map_location="cpu", weights_only=True)
        for key in ("state_dict", "current_model_state"):
            assert all(torch.equal(a[key][k], b[key][k]) for k in a[key]), (name, key)
    assert resumed.metrics["val_acc"] == reference.metrics["val_acc"]
