"""Structured channel pruning of trained runs (torch-pruning) and the record that lets checkpoints rebuild them.

The record of a pruned architecture lives in ``nightscan_edge.models.pruned`` (``create_model`` rebuilds
pruned checkpoints from it, free of torch-pruning, an optional extra); ``channels`` and ``run`` prune.
"""

from nightscan_edge.models.pruned import PRUNED_CHANNELS_OPTION, apply_pruned_channels, record_pruned_channels

__all__ = ["PRUNED_CHANNELS_OPTION", "apply_pruned_channels", "record_pruned_channels"]
