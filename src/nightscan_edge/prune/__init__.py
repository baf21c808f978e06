"""Structured channel pruning of trained runs (torch-pruning) and the record that lets checkpoints rebuild them.

``architecture`` is imported by ``create_model`` and must stay free of torch-pruning (an optional extra);
``channels`` and ``run`` import it when they prune.
"""

from nightscan_edge.prune.architecture import PRUNED_CHANNELS_OPTION, apply_pruned_channels, record_pruned_channels

__all__ = ["PRUNED_CHANNELS_OPTION", "apply_pruned_channels", "record_pruned_channels"]
