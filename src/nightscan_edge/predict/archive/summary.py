"""What a person looks at after an archive run: detections per label per hour of each night, as CSV and heat maps.

``summary/detections_per_hour.csv``: ``site, night, hour, label, detections`` -- merged detections (runs of
windows with one top label) starting in that clock hour, at or above ``min_confidence``.
``summary/activity_SITE.png``: label x hour-of-night (12:00 -> 11:00) heat map of the same counts, summed over
the site's nights. Times follow the rule in ``recording_time`` (stated in the figure and archive.json).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np

from nightscan_edge.atomic import write_bytes_atomic, write_text_atomic
from nightscan_edge.predict.archive.recording_time import TIME_RULE, hour_of_night_order, night_of
from nightscan_edge.predict.archive.store import OutputFolder

HOURLY_CSV = "detections_per_hour.csv"
HOURLY_COLUMNS = ("site", "night", "hour", "label", "detections")


def hourly_counts(folder: OutputFolder, min_confidence: float = 0.0) -> Counter[tuple[str, str, int, str]]:
    """``(site, night, hour, label) -> detections`` over every result file in the folder."""
    table = folder.table(["site", "label", "confidence", "detection_start"])
    counts: Counter[tuple[str, str, int, str]] = Counter()
    for site, label, confidence, moment in zip(
        *(table.column(name).to_pylist() for name in ("site", "label", "confidence", "detection_start")), strict=True
    ):
        if label is None or moment is None or confidence < min_confidence:
            continue
        counts[(site, night_of(moment).isoformat(), moment.hour, label)] += 1
    return counts


def write_summaries(folder: OutputFolder, labels: list[str], min_confidence: float = 0.0) -> list[Path]:
    """The hourly CSV and one heat map per site; returns the files written."""
    counts = hourly_counts(folder, min_confidence)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(HOURLY_COLUMNS)
    for (site, night, hour, label), number in sorted(counts.items()):
        writer.writerow((site, night, f"{hour:02d}:00", label, number))
    written = [write_text_atomic(folder.summary / HOURLY_CSV, buffer.getvalue())]
    for site in sorted({key[0] for key in counts}):
        written.append(_heat_map(folder.summary / f"activity_{site}.png", site, counts, labels))
    return written


def _heat_map(path: Path, site: str, counts: Counter[tuple[str, str, int, str]], labels: list[str]) -> Path:
    # pyplot only after choosing the file backend (no display on servers and workers)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    hours = hour_of_night_order()
    nights = sorted({key[1] for key in counts if key[0] == site})
    grid = np.zeros((len(labels), 24))
    for (key_site, _, hour, label), number in counts.items():
        if key_site == site and label in labels:
            grid[labels.index(label), hours.index(hour)] += number
    figure, axes = plt.subplots(figsize=(10, 0.45 * len(labels) + 1.8))
    image = axes.imshow(grid, aspect="auto", cmap="magma", interpolation="nearest")
    axes.set_xticks(range(24), [f"{h:02d}" for h in hours])
    axes.set_yticks(range(len(labels)), labels)
    axes.set_xlabel("hour of night (clock time; night runs 12:00 -> 11:00)")
    axes.set_title(f"{site}: detections per hour, {len(nights)} night(s) {nights[0]} .. {nights[-1]}", fontsize=10)
    figure.text(0.01, 0.01, TIME_RULE, fontsize=6, color="0.4")
    figure.colorbar(image, ax=axes, label="detections")
    figure.tight_layout(rect=(0, 0.03, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    plt.close(figure)
    return write_bytes_atomic(path, buffer.getvalue())
