"""An exponential moving average of the weights (timm's model EMA), through Lightning's ``EMAWeightAveraging``.

Why: a few hundred clips or photos train noisily, and the weights of the last optimizer step are one noisy point
of that walk; their average over the last few hundred steps is usually the better model, and it costs nothing on
the phone (the file still holds one set of weights). With ``train.ema_decay`` set, the average is what validation
scores, what the multi-label thresholds are chosen on and what ``best.ckpt`` / ``last.ckpt`` hold as
``state_dict`` -- so the report, ``export``, ``predict`` and ``--init-from`` all use it -- while the weights the
optimizer is moving travel beside it in ``current_model_state`` (Lightning's key), which ``--resume`` restarts
from: a resumed run ends with the same average and the same weights as an uninterrupted one.
"""

from __future__ import annotations

from typing import Any

import lightning as L
from lightning.pytorch.callbacks import EMAWeightAveraging

# Lightning's checkpoint key for the optimizer's own weights when a weight average fills ``state_dict``.
TRAINING_WEIGHTS_KEY = "current_model_state"

# What the training module holds besides its network: the average needs the network's weights only, and
# deep-copying these would duplicate a teacher and its cached data (a BirdNET interpreter cannot be copied at all).
_NOT_AVERAGED = ("teacher", "unlabeled", "batch_augment", "train_sampler")


class WeightAverage(EMAWeightAveraging):
    """``EMAWeightAveraging`` with ``decay``, updated after every optimizer step (buffers too: BatchNorm's
    running statistics are averaged with the weights that produced them)."""

    def __init__(self, decay: float) -> None:
        super().__init__(decay=decay, use_buffers=True)

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        held = {name: getattr(pl_module, name) for name in _NOT_AVERAGED if hasattr(pl_module, name)}
        for name in held:
            setattr(pl_module, name, None)
        try:
            super().setup(trainer, pl_module, stage)
        finally:
            for name, value in held.items():
                setattr(pl_module, name, value)

    def restore(self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]) -> None:
        """Resume: the average from ``state_dict``, the training weights from ``current_model_state``.

        A resumed trainer counts its optimizer steps from where ``fit`` starts again (the run restarts at an
        epoch boundary, not through Lightning's loop restore), so the step the average last saw is that count:
        with the saved one, the average would skip every step until the new count caught up.
        """
        self.on_load_checkpoint(trainer, pl_module, checkpoint)
        self._latest_update_step = trainer.global_step


def training_weights(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The weights the optimizer was moving when ``checkpoint`` was taken (the average's run: beside it)."""
    state: dict[str, Any] = checkpoint.get(TRAINING_WEIGHTS_KEY, checkpoint["state_dict"])
    return state
