"""The LightningModule: one classifier, its loss (class-weighted CE, or per-class BCE / focal for
``train.objective=multilabel``; optional distillation), clip-level validation metrics, and the optimizer/scheduler
from the config.

A multi-label run validates by mean average precision (``val_map``, what ``best.ckpt`` is chosen by) and chooses
each class's threshold on the same validation scores (``train.threshold_rule``); the thresholds of an epoch are
saved with that epoch's weights, so ``best.ckpt`` carries the thresholds its own scores were cut at.

Audio batches arrive as waveforms; the model's own ``LogMel`` turns them into spectrograms on the batch (fast,
and on the GPU when there is one) so training sees exactly the front-end that is exported. Validation scores
every window of a clip and averages the probabilities, as prediction on a recording does.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any, cast

import lightning as L
import numpy as np
import torch
from lightning.pytorch.core.optimizer import LightningOptimizer
from lightning.pytorch.utilities.types import OptimizerLRScheduler
from torchmetrics.classification import MulticlassAccuracy, MulticlassConfusionMatrix, MulticlassF1Score

from nightscan_edge.audio.log_mel import LogMel
from nightscan_edge.checkpoint import checkpoint_metadata
from nightscan_edge.config import Config, TrainConfig
from nightscan_edge.data.augment import SpecAugment
from nightscan_edge.data.batches import BatchAugment, EpochBatches
from nightscan_edge.data.datasets import EpochSeededSampler, epoch_seed
from nightscan_edge.errors import UserError
from nightscan_edge.models import AudioClassifier, EdgeClassifier
from nightscan_edge.multilabel_metrics import choose_thresholds, detection_report
from nightscan_edge.run_folder import CHECKPOINT_KEY
from nightscan_edge.train.birdnet_teacher import BirdNetTeacher, UnlabeledWindows
from nightscan_edge.train.distill import Teacher
from nightscan_edge.train.fine_tune import (
    backbone_frozen,
    hold_batchnorm_statistics,
    parameter_groups,
    set_backbone_trainable,
    warmup_cosine,
    warmup_steps,
)
from nightscan_edge.train.initialise import weights_licence
from nightscan_edge.train.losses import blend_with_teacher, soft_loss
from nightscan_edge.train.photo_teacher import UnlabeledPhotos
from nightscan_edge.train.training_objective import training_objective


class NonFiniteLossError(UserError):
    """The loss became NaN/Infinity: the weights are ruined, so the run stops as failed before any checkpoint of
    them can be marked best."""


FINITE_CHECK_EVERY = 50  # training batches between two reads of the non-finite-loss flag (each waits for the device)


def check_finite(loss: float, where: str, lr: float) -> None:
    if not math.isfinite(loss):
        raise NonFiniteLossError(
            f"the {where} loss became {loss} (diverged): the run stopped as failed; lower "
            f"train.lr (now {lr:g}), or check the data for NaN/Inf samples"
        )


def make_optimizer(params: Iterable[Any], train: TrainConfig) -> torch.optim.Optimizer:
    """The optimizer ``train.optimizer`` names, with its options; also what the throughput benchmark's plain loop
    steps, so the engine is compared with the same optimizer work."""
    if train.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay, nesterov=train.momentum > 0
        )
    if train.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    return torch.optim.Adam(params, lr=train.lr, weight_decay=train.weight_decay)


def model_input(
    model: EdgeClassifier, x: torch.Tensor, spec_augment: SpecAugment | None, augment_seed: int | None = None
) -> torch.Tensor:
    """Raw batch -> what the model's ``forward`` takes: audio waveforms through the model's own log-mel (SpecAugment
    drawn from ``augment_seed`` when given); photos and frozen embeddings (birdnet_head) as they are."""
    if model.input_kind != "audio" or getattr(model, "takes_embeddings", False):
        return x
    front_end = cast(AudioClassifier, model).log_mel
    with torch.no_grad(), torch.autocast(x.device.type, enabled=False):  # the dB scale needs float32
        # the FFT form of the exported front-end's values: training exports nothing (``LogMel.by_fft``)
        spectrogram: torch.Tensor = (
            front_end.by_fft(x.float()) if isinstance(front_end, LogMel) else front_end(x.float())
        )
    if augment_seed is not None and spec_augment is not None:
        batch, _, n_mels, frames = spectrogram.shape
        params = spec_augment.make_params(np.random.default_rng(augment_seed), batch, n_mels, frames)
        spectrogram = spec_augment.apply(spectrogram, params)
    return spectrogram


class ClassifierModule(L.LightningModule):
    def __init__(
        self,
        model: EdgeClassifier,
        labels: list[str],
        config: Config,
        run_id: str,
        class_weights: torch.Tensor | None = None,
        teacher: Teacher | BirdNetTeacher | None = None,
        unlabeled: UnlabeledWindows | UnlabeledPhotos | None = None,
        licence: str | None = None,
    ) -> None:
        super().__init__()
        # Unlabelled windows or photos with the teacher's soft labels (--unlabeled): one extra batch per step, KL
        # loss only.
        self.unlabeled = unlabeled
        self.model = model
        self.labels = list(labels)
        self.config = config
        self.run_id = run_id
        self.register_buffer(
            "class_weights", class_weights if class_weights is not None else torch.ones(len(labels)), persistent=False
        )
        # Not a submodule: the teacher's weights must never land in the student's checkpoint.
        self.teacher = teacher
        # Terms inherited from pretrained knowledge (a BirdNET teacher or embedding): saved in every checkpoint.
        self.licence = licence if licence is not None else (teacher.licence if teacher is not None else None)
        audio = config.data.audio_augment
        self.spec_augment = (
            SpecAugment(audio) if (model.input_kind == "audio" and config.data.augment and audio.spec_augment) else None
        )
        # Set by the engine with the training loader: the device half of the batch data path (None on the
        # per-clip path that frozen embeddings and BirdNET distillation use).
        self.batch_augment: BatchAugment | None = None
        self.train_sampler: EpochBatches | EpochSeededSampler | None = None
        num_classes = len(labels)
        self.objective = training_objective(config)
        # multi-label: each validation epoch's clip scores and targets (a small set; metrics at the epoch's end),
        # and the per-class thresholds chosen on them (saved with the epoch's checkpoint)
        self._val_scores: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self.thresholds: list[float] | None = None
        # Every rank validates the whole validation set (same weights, same data): no cross-rank metric sync.
        self.val_accuracy = MulticlassAccuracy(num_classes, average="micro", sync_on_compute=False)
        self.val_f1 = MulticlassF1Score(num_classes, average="macro", sync_on_compute=False)
        self.val_confusion = MulticlassConfusionMatrix(num_classes, sync_on_compute=False)
        self._train_sums = torch.zeros(3)  # loss*n, correct, n (float32: MPS has no float64)
        self._first_nonfinite, self._nonfinite_loss = torch.full((), -1, dtype=torch.int64), torch.zeros(())
        self._val_sums = torch.zeros(2, dtype=torch.float64)  # loss*n, n
        self.last_epoch: dict[str, float] = {}

    # -- inputs ---------------------------------------------------------------------------------------
    def model_input(self, x: torch.Tensor, augment_seed: int | None = None) -> torch.Tensor:
        return model_input(self.model, x, self.spec_augment, augment_seed)

    def training_inputs(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """A training batch (already on the device) -> (augmented raw input, model input): the augmentation
        runs here, on the device, for the whole batch -- in float32 under mixed precision too (the log-mel's dB
        scale and the SNR arithmetic lose too much in 16 bits; the network itself runs in the autocast dtype)."""
        with torch.no_grad(), torch.autocast(self.device.type, enabled=False):
            # set by the engine whenever batches arrive as dicts (the batch data path)
            batch_augment = cast(BatchAugment, self.batch_augment)
            raw = batch_augment(batch)
            inputs = self.model_input(raw)
            if self.model.input_kind == "audio":
                inputs = batch_augment.mask_spectrogram(inputs, batch)
        return raw, inputs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Raw model input (waveform for audio, normalised image for photos) -> logits."""
        logits: torch.Tensor = self.model(self.model_input(x))
        return logits

    # -- training -------------------------------------------------------------------------------------
    def on_fit_start(self) -> None:
        if self.teacher is not None:
            self.teacher.to(self.device)
        if self.unlabeled is not None:
            self.unlabeled.to(self.device)

    def on_train_epoch_start(self) -> None:
        # Dropout and any other torch randomness restart from a seed fixed per epoch: resume == uninterrupted.
        # Each rank its own dropout stream; rank 0's is the single-device one.
        torch.manual_seed(epoch_seed(self.config.train.seed, self.current_epoch, salt=1 + 7919 * self.global_rank))
        sampler = self.train_sampler
        if sampler is not None:
            sampler.set_epoch(self.current_epoch)
            if hasattr(sampler, "set_rank"):
                sampler.set_rank(self.global_rank, self.trainer.world_size if self._trainer else 1)
        set_backbone_trainable(self.model, not backbone_frozen(self.config.train, self.current_epoch))
        self._train_sums = torch.zeros(3, device=self.device)
        # The first batch of the epoch whose loss was NaN/Inf (-1: none yet) and that loss, kept on the device:
        # reading the loss every step would make the loop wait for the GPU after every step.
        self._first_nonfinite = torch.full((), -1, dtype=torch.int64, device=self.device)
        self._nonfinite_loss = torch.zeros((), device=self.device)

    def note_loss(self, loss: torch.Tensor, batch_idx: int) -> None:
        """Remember the epoch's first non-finite loss, on the device (no wait); ``check_training_loss`` reads it."""
        first = self._first_nonfinite
        new = ~torch.isfinite(loss.detach()) & (first < 0)
        self._first_nonfinite = torch.where(new, batch_idx, first)
        self._nonfinite_loss = torch.where(new, loss.detach().float(), self._nonfinite_loss)

    def check_training_loss(self) -> None:
        """Raise ``NonFiniteLossError`` naming the epoch's first batch with a NaN/Inf loss, if there was one.

        Waits for the device once; called every ``FINITE_CHECK_EVERY`` batches, when the recorder has read a
        non-finite loss, before validation and at the end of the epoch -- so a diverged run stops before any
        checkpoint of its weights can be marked best."""
        first = int(self._first_nonfinite)
        if first >= 0:
            check_finite(
                float(self._nonfinite_loss),
                f"training (epoch {self.current_epoch + 1}, batch {first + 1})",
                self.config.train.lr,
            )

    def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
        if (batch_idx + 1) % FINITE_CHECK_EVERY == 0:
            self.check_training_loss()

    def on_train_epoch_end(self) -> None:
        self.check_training_loss()  # before the checkpoint callbacks' own epoch-end hooks (Lightning runs ours first)

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        seed = epoch_seed(self.config.train.seed, self.current_epoch, salt=1000 + batch_idx)
        if self.config.train.batchnorm == "frozen" or backbone_frozen(self.config.train, self.current_epoch):
            hold_batchnorm_statistics(self.model)
        if isinstance(batch, dict):  # the batch data path: augmentation drawn per batch, applied here
            y = batch["y"]
            x, inputs = self.training_inputs(batch)
        else:  # the per-clip path (frozen embeddings, BirdNET distillation)
            x, y = batch[0], batch[1]
            inputs = self.model_input(x, augment_seed=seed)
        logits = self.model(inputs)
        loss = self.objective.loss(logits, y, cast(torch.Tensor, self.class_weights))
        cached = batch.get("teacher_logits") if isinstance(batch, dict) else None
        if self.teacher is not None and cached is not None:  # a photo teacher's score of exactly this view
            loss = blend_with_teacher(
                logits, cached, loss, self.teacher.temperature, self.teacher.alpha, self.objective.multilabel
            )
        elif self.teacher is not None:
            positions = (batch[2], batch[3]) if not isinstance(batch, dict) and len(batch) == 4 else None
            loss = self.teacher.distillation_loss(logits, x, inputs, loss, positions=positions)
        if self.unlabeled is not None:
            rng = np.random.default_rng(seed)
            windows, teacher_logits = self.unlabeled.batch(rng, y.shape[0])  # as many as labelled windows
            student = self.model(self.model_input(windows.to(x.device), augment_seed=seed + 1))
            # the engine passes unlabelled data only with a teacher (the one that scored it)
            teacher = cast(Teacher | BirdNetTeacher, self.teacher)
            loss = loss + teacher.alpha * soft_loss(
                student, teacher_logits.to(x.device), teacher.temperature, self.objective.multilabel
            )
        with torch.no_grad():  # sums and the non-finite flag kept on the device: nothing here waits for it
            self.note_loss(loss, batch_idx)
            count = torch.ones((), device=y.device, dtype=torch.float32) * y.shape[0]
            self._train_sums = self._train_sums.to(y.device) + torch.stack(
                [loss.detach().float() * count, self.objective.correct(logits.detach(), y), count]
            )
        if self._trainer is not None and self.trainer.progress_bar_callback is not None:
            # For the progress bar only (the recorder keeps the run's figures); Lightning's log costs about 2 ms a
            # step, so runs without a bar skip it.
            self.log("train_loss", loss, prog_bar=True, on_step=True, on_epoch=False, batch_size=y.shape[0])
        return loss

    # -- validation -----------------------------------------------------------------------------------
    def clip_probabilities(self, windows: torch.Tensor, owner: torch.Tensor, clips: int) -> torch.Tensor:
        """Each clip's scores from its windows' (photos: one 'window' per image): the mean softmax, or per class the
        highest sigmoid (multi-label); float32 under autocast too."""
        return self.objective.clip_scores(self.objective.probabilities(self(windows)), owner, clips)

    def on_validation_epoch_start(self) -> None:
        if self._trainer is not None and not self.trainer.sanity_checking:
            self.check_training_loss()  # no validation (nor best checkpoint) of diverged weights
        self._val_sums.zero_()
        self._val_scores, self._val_targets = [], []
        for metric in (self.val_accuracy, self.val_f1, self.val_confusion):
            metric.reset()

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        windows, y, owner = batch
        probabilities = self.clip_probabilities(windows, owner, y.shape[0])
        loss = self.objective.clip_loss(probabilities, y)
        self._val_sums += torch.tensor([loss.item() * y.shape[0], y.shape[0]], dtype=torch.float64)
        if self.objective.multilabel:
            self._val_scores.append(probabilities.detach().cpu())
            self._val_targets.append(y.detach().cpu())
            return
        predictions = probabilities.argmax(1)
        self.val_accuracy.update(predictions, y)
        self.val_f1.update(predictions, y)
        self.val_confusion.update(predictions, y)

    def _synced(self, values: torch.Tensor, reduce_op: str) -> torch.Tensor:
        """Across DDP ranks (identity on one device): every rank must take the same checkpoint and early-stopping
        decisions, and the training figures are over the global batch."""
        if self._trainer is None or self.trainer.world_size == 1:
            return values
        return self.trainer.strategy.reduce(values.to(self.device), reduce_op=reduce_op).cpu()

    def on_validation_epoch_end(self) -> None:
        val_loss = float(self._val_sums[0] / max(self._val_sums[1].item(), 1))
        if self._trainer is None or not self._trainer.sanity_checking:
            check_finite(val_loss, f"validation (epoch {self.current_epoch + 1})", self.config.train.lr)
        figures = self._synced(torch.tensor([val_loss, *self._validation_figures()], dtype=torch.float64), "mean")
        val_loss, accuracy, macro_f1, mean_ap = figures.tolist()
        logged = {"val_loss": val_loss, "val_acc": accuracy, "val_macro_f1": macro_f1}
        if self.objective.multilabel:
            logged["val_map"] = mean_ap
        self.log_dict(logged, prog_bar=True)
        loss_sum, correct, count = self._synced(self._train_sums, "sum").tolist()
        self.last_epoch = {
            "train_loss": loss_sum / count if count else float("nan"),
            "train_acc": correct / count if count else float("nan"),
            "val_loss": val_loss,
            "val_acc": accuracy,
            "val_macro_f1": macro_f1,
            **({"val_map": mean_ap} if self.objective.multilabel else {}),
            # the head's: train.lr on its schedule (one optimizer here, never a list)
            "lr": float(cast(LightningOptimizer, self.optimizers()).param_groups[-1]["lr"])
            if self.trainer and not self.trainer.sanity_checking
            else self.config.train.lr,
        }

    def _validation_figures(self) -> tuple[float, float, float]:
        """(accuracy, macro-F1, mAP) of the epoch. Multi-label: the thresholds are chosen on these scores first,
        accuracy is the share of clips with every class decided right at them (exact match), macro-F1 is at them;
        mAP is NaN for a single-label run (not logged)."""
        if not self.objective.multilabel:
            return float(self.val_accuracy.compute()), float(self.val_f1.compute()), float("nan")
        scores, targets = torch.cat(self._val_scores), torch.cat(self._val_targets)
        train = self.config.train
        thresholds = choose_thresholds(scores, targets, train.threshold_rule, train.target_precision)
        self.thresholds = [float(t) for t in thresholds]
        figures = detection_report(scores, targets, self.labels, thresholds)
        mean_ap = figures["map"]
        return figures["exact_match"], figures["macro_f1"], float("nan") if mean_ap is None else mean_ap

    # -- optimisation ---------------------------------------------------------------------------------
    def configure_optimizers(self) -> OptimizerLRScheduler:
        train = self.config.train
        optimizer = make_optimizer(parameter_groups(self.model, train), train)
        if train.warmup_epochs:
            total = int(self.trainer.estimated_stepping_batches)
            factor = warmup_cosine(total, warmup_steps(train, total), decay=train.scheduler == "cosine")
            scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}
        if train.scheduler == "none":
            return optimizer
        if train.scheduler == "plateau":
            plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, mode="min", factor=train.gamma, patience=train.plateau_patience
            )
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": plateau, "monitor": "val_loss"}}
        epoch_scheduler: torch.optim.lr_scheduler.LRScheduler
        if train.scheduler == "step":
            epoch_scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=train.step_size, gamma=train.gamma)
        else:
            epoch_scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=train.epochs)
        return {"optimizer": optimizer, "lr_scheduler": epoch_scheduler}

    # -- checkpoints ----------------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint[CHECKPOINT_KEY] = checkpoint_metadata(
            self.model,
            self.labels,
            self.config.model_dump(mode="json"),
            self.run_id,
            model_options=dict(self.config.model.options),
            licence=self.licence if self.licence is not None else weights_licence(self.config),
            objective=self.config.train.objective,
            # the thresholds chosen on this epoch's validation (none before the first: the epoch-start last.ckpt)
            thresholds=dict(zip(self.labels, self.thresholds, strict=True)) if self.thresholds is not None else None,
        )
