"""Pruned architectures as data: which layers have which channel counts, so checkpoints can rebuild them.

Structured pruning changes layer widths, so a pruned model no longer matches what its builder makes. Rather
than pickling the pruned module graph (fragile across versions, and ``load_trained_model`` loads weights
only), the difference is stored as a small JSON-able map under the model option ``pruned_channels``:

    {"body.1.3": [in_channels, out_channels, groups],   # Conv2d
     "body.1.4": [num_features],                          # BatchNorm2d
     "head":     [in_features, out_features]}             # Linear

``create_model`` builds the dense model from its usual options and then resizes the listed layers; the
checkpoint's weights load into that exactly. This works for every registered family (ours, torchvision's
MobileNetV3 and ResNets) because their ``forward`` code never hard-codes a channel count.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from nightscan_edge.models.conv_like import conv2d_like

PRUNED_CHANNELS_OPTION = "pruned_channels"


def layer_shape(module: nn.Module) -> list[int] | None:
    """The channel counts that define a resizable layer, or None for layers pruning never changes."""
    if isinstance(module, nn.Conv2d):
        return [module.in_channels, module.out_channels, module.groups]
    if isinstance(module, nn.BatchNorm2d):
        return [module.num_features]
    if isinstance(module, nn.Linear):
        return [module.in_features, module.out_features]
    return None


def record_pruned_channels(pruned: nn.Module, dense: nn.Module) -> dict[str, list[int]]:
    """Layers whose channel counts differ between the pruned model and a freshly built dense one."""
    dense_shapes = {name: layer_shape(module) for name, module in dense.named_modules()}
    changed = {}
    for name, module in pruned.named_modules():
        shape = layer_shape(module)
        if shape is None:
            continue
        if name not in dense_shapes:
            raise ValueError(f"pruned model has a layer '{name}' the dense model lacks; cannot record its widths")
        if shape != dense_shapes[name]:
            changed[name] = shape
    return changed


def apply_pruned_channels(model: nn.Module, pruned_channels: dict[str, Any]) -> nn.Module:
    """Resize the listed layers of a freshly built model in place (new, uninitialised weights of the new shape)."""
    if not isinstance(pruned_channels, dict):
        raise ValueError(
            f"{PRUNED_CHANNELS_OPTION} must map layer names to channel counts; got {type(pruned_channels).__name__}"
        )
    modules = dict(model.named_modules())
    for name, shape in pruned_channels.items():
        old = modules.get(name)
        expected = layer_shape(old) if old is not None else None
        if old is None or expected is None:
            raise ValueError(
                f"{PRUNED_CHANNELS_OPTION}: layer '{name}' is not a Conv2d/BatchNorm2d/Linear of "
                f"{type(model).__name__}; "
                "was the checkpoint pruned from a different model?"
            )
        shape = [int(v) for v in shape]
        if len(shape) != len(expected) or min(shape) < 1:
            raise ValueError(
                f"{PRUNED_CHANNELS_OPTION}: layer '{name}' needs {len(expected)} positive counts; got {shape}"
            )
        _replace(model, name, _resized(old, shape))
    return model


def _resized(old: nn.Module, shape: list[int]) -> nn.Module:
    if isinstance(old, nn.Conv2d):
        in_channels, out_channels, groups = shape
        return conv2d_like(old, in_channels, out_channels, groups)
    if isinstance(old, nn.BatchNorm2d):
        return nn.BatchNorm2d(
            shape[0], eps=old.eps, momentum=old.momentum, affine=old.affine, track_running_stats=old.track_running_stats
        )
    in_features, out_features = shape
    return nn.Linear(in_features, out_features, bias=old.bias is not None)


def _replace(model: nn.Module, name: str, new: nn.Module) -> None:
    parent_name, _, child_name = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child_name, new)
