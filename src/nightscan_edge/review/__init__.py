"""Reviewing model proposals: the review queue (windows, decisions, undo, conflicts), loaders from what
``data prelabel`` and ``predict`` write, and new data set versions built from the accepted windows.
See docs/review.md for the API other commands call."""

from nightscan_edge.review.loaders import (
    windows_from_archive,
    windows_from_detections_csv,
    windows_from_file,
    windows_from_prelabel,
    windows_from_raven,
)
from nightscan_edge.review.queue import (
    ACTIONS,
    BACKGROUND_LABEL,
    SOURCES,
    AddReport,
    BadWindow,
    Decision,
    DecisionConflict,
    LabelNotAllowed,
    QueueCounts,
    QueuedWindow,
    QueueInfo,
    QueueNotFound,
    ReviewError,
    ReviewStore,
    Window,
    WindowNotFound,
)
from nightscan_edge.review.versions import DatasetVersion, build_version, version_folders

__all__ = [
    "ACTIONS",
    "BACKGROUND_LABEL",
    "SOURCES",
    "AddReport",
    "BadWindow",
    "DatasetVersion",
    "Decision",
    "DecisionConflict",
    "LabelNotAllowed",
    "QueueCounts",
    "QueueInfo",
    "QueueNotFound",
    "QueuedWindow",
    "ReviewError",
    "ReviewStore",
    "Window",
    "WindowNotFound",
    "build_version",
    "version_folders",
    "windows_from_archive",
    "windows_from_detections_csv",
    "windows_from_file",
    "windows_from_prelabel",
    "windows_from_raven",
]
