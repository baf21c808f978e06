"""Pruned architectures live in ``nightscan_edge.models.pruned`` (``create_model`` rebuilds them, and models
sit below prune); this name stays for code that imports it from here."""

from nightscan_edge.models.pruned import (
    PRUNED_CHANNELS_OPTION,
    apply_pruned_channels,
    layer_shape,
    record_pruned_channels,
)

__all__ = ["PRUNED_CHANNELS_OPTION", "apply_pruned_channels", "layer_shape", "record_pruned_channels"]
