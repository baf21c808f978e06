"""Training: Lightning module + callbacks, typed events to ``events.jsonl``, ``train(config) -> Run``."""

from nightscan_edge.train.callbacks import TrainingCancelled
from nightscan_edge.train.engine import Run, train
from nightscan_edge.train.events import read_events

__all__ = ["Run", "TrainingCancelled", "read_events", "train"]
