"""Structured channel pruning with torch-pruning: remove whole channels until a MACs or size target is met.

Unlike weight masks (which leave every tensor its original size), structured pruning deletes output
channels of convolutions together with everything that depends on them -- the next layer's input channels,
BatchNorm statistics, depthwise partners, residual partners -- so the model really is smaller and faster in
every export format. torch-pruning's dependency graph (Fang et al., "DepGraph", CVPR 2023) finds those
coupled groups for any architecture we register.

The schedule is iterative: each step removes a further small fraction of every group's channels, ranked by
the L2 norm of the group's weights, and stops at the first step that meets the targets. Layers that define
the model's interface are never pruned: the classifier's outputs (one per label), the input normalisation
and the log-mel front-end.
"""

from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from nightscan_edge.errors import UserError
from nightscan_edge.models import EdgeClassifier, create_model, measure_complexity
from nightscan_edge.models.complexity import BYTES_PER_MB, count_flops, example_input
from nightscan_edge.models.pruned import PRUNED_CHANNELS_OPTION, record_pruned_channels


class PruningTargetError(UserError):
    """The requested target is invalid or cannot be reached by channel pruning."""


@dataclass(frozen=True)
class PruneStats:
    """Before/after figures of one pruning (MACs of one forward at batch 1, FP32 size)."""

    macs_before: int
    macs_after: int
    params_before: int
    params_after: int
    size_mb_before: float
    size_mb_after: float
    steps: int
    channel_ratio: float  # fraction of each group's channels removed at the final step
    pruned_channels: dict[str, list[int]] = field(default_factory=dict)

    @property
    def macs_ratio(self) -> float:
        return self.macs_after / self.macs_before

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "macs_ratio": round(self.macs_ratio, 4)}


def check_targets(target_macs: float | None, target_size_mb: float | None) -> None:
    if target_macs is None and target_size_mb is None:
        raise PruningTargetError("give a target: --target-macs FRACTION (e.g. 0.5) and/or --target-size-mb MB")
    if target_macs is not None and not 0 < target_macs < 1:
        raise PruningTargetError(
            f"--target-macs is the fraction of MACs to keep, between 0 and 1 (e.g. 0.5); got {target_macs}"
        )
    if target_size_mb is not None and not target_size_mb > 0:
        raise PruningTargetError(f"--target-size-mb must be a positive size in MB; got {target_size_mb}")


def prune_model(
    model: EdgeClassifier,
    *,
    target_macs: float | None = None,
    target_size_mb: float | None = None,
    step_ratio: float = 0.02,
    max_channel_ratio: float = 0.9,
    round_to: int | None = None,
    model_options: dict[str, Any] | None = None,
) -> tuple[EdgeClassifier, PruneStats]:
    """Return a pruned copy of ``model`` (the original is untouched) and its before/after figures.

    ``target_macs`` is the fraction of MACs to keep (0.5 = half); ``target_size_mb`` an FP32 size ceiling;
    with both, pruning continues until both hold. ``model_options`` are the builder options the model was
    made with (needed to record which layers the pruning resized).
    """
    import torch_pruning as tp  # the prune extra: pip install 'nightscan-edge[prune]'

    check_targets(target_macs, target_size_mb)
    if not 0 < step_ratio < max_channel_ratio < 1:
        raise PruningTargetError(f"need 0 < step_ratio < max_channel_ratio < 1; got {step_ratio}, {max_channel_ratio}")
    check_reachable(model, target_size_mb)
    before = measure_complexity(model)
    pruned = copy.deepcopy(model).eval()
    ignored = [pruned.head, *interface_layers(pruned)]
    steps = math.ceil(max_channel_ratio / step_ratio)
    pruner = tp.pruner.MetaPruner(
        pruned,
        example_input(pruned),
        importance=tp.importance.GroupMagnitudeImportance(p=2),
        pruning_ratio=max_channel_ratio,
        iterative_steps=steps,
        ignored_layers=ignored,
        round_to=round_to,
    )
    for step in range(1, steps + 1):  # noqa: B007 (the step count is reported after the loop)
        with torch.no_grad():
            pruner.step()
        macs, size_mb = _macs_and_size_mb(pruned)
        macs_ok = target_macs is None or macs <= target_macs * before.macs
        size_ok = target_size_mb is None or size_mb <= target_size_mb
        if macs_ok and size_ok:
            break
    else:
        raise PruningTargetError(
            f"pruning {max_channel_ratio:.0%} of every layer's channels still leaves {macs / before.macs:.2f} of the "
            f"MACs and {size_mb:.2f} MB; ask for a less aggressive target"
        )
    after = measure_complexity(pruned)
    options = dict(model_options or {})
    options.pop(PRUNED_CHANNELS_OPTION, None)
    dense = create_model(model.model_name, model.num_classes, spec=model.spec, **options)
    stats = PruneStats(
        macs_before=before.macs,
        macs_after=after.macs,
        params_before=before.params,
        params_after=after.params,
        size_mb_before=before.model_size_mb,
        size_mb_after=after.model_size_mb,
        steps=step,
        channel_ratio=round(step * step_ratio, 4),
        pruned_channels=record_pruned_channels(pruned, dense),
    )
    return pruned, stats


def interface_layers(model: EdgeClassifier) -> list[torch.nn.Module]:
    """Layers that define the model's input and are never pruned: the front-end and the input normalisation."""
    return [getattr(model, name) for name in ("input_norm", "log_mel") if hasattr(model, name)]


def check_reachable(model: EdgeClassifier, target_size_mb: float | None) -> None:
    """Refuse, before any work, a size no pruning can reach: the interface layers keep every weight and table
    (BirdNET's spectrogram kernels alone are 1.2 MB FP32)."""
    if target_size_mb is None:
        return
    kept = sum(t.numel() for layer in interface_layers(model) for t in layer.state_dict().values())
    floor_mb = 4 * kept / BYTES_PER_MB
    if target_size_mb <= floor_mb:
        raise PruningTargetError(
            f"--target-size-mb {target_size_mb:g} cannot be met: {model.model_name}'s front-end and input layers, "
            f"which pruning never removes, alone take {floor_mb:.2f} MB FP32; ask for more than that"
        )


def _macs_and_size_mb(model: EdgeClassifier) -> tuple[int, float]:
    """The two figures the targets are about, cheaper than a full ``measure_complexity`` per step."""
    macs = count_flops(model, example_input(model)) // 2
    size_mb = 4 * sum(t.numel() for t in model.state_dict().values()) / BYTES_PER_MB
    return macs, round(size_mb, 4)
