"""Prediction: exported artifacts on files and long recordings, and the edge -> server fallback."""

from nightscan_edge.predict.classifier import ArtifactError, Classifier, load_edge_classifier, load_server_classifier
from nightscan_edge.predict.edge_predictor import EdgePredictor, FilePrediction
from nightscan_edge.predict.windows import Detection, ScoredWindow, merge_windows, sliding_windows

__all__ = [
    "ArtifactError",
    "Classifier",
    "Detection",
    "EdgePredictor",
    "FilePrediction",
    "ScoredWindow",
    "load_edge_classifier",
    "load_server_classifier",
    "merge_windows",
    "sliding_windows",
]
