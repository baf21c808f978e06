"""Training: Lightning module + callbacks, typed events to ``events.jsonl``, ``train(config) -> Run``."""

from nightscan_edge.train.callbacks import TrainingCancelled
from nightscan_edge.train.engine import train
from nightscan_edge.train.events import read_events
from nightscan_edge.train.run_end import Run

__all__ = ["Run", "TrainingCancelled", "read_events", "train"]
