"""What the review tests start from: a registered audio data set, night recordings beside it and a prelabel CSV
proposing one of the data set's labels for each window."""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.data.synth import AUDIO_CLASSES
from tests.conftest import write_tone

WINDOW_SECONDS = 1.0


def write_prelabel_csv(root: Path, windows: int, per_recording: int = 10) -> Path:
    """``windows`` windows of 1 s over ``ceil(windows / per_recording)`` 8 kHz recordings, labels in turn."""
    lines = ["path,start_s,end_s,label,common_name,confidence"]
    for number in range(windows):
        recording = root / "nights" / f"night{number // per_recording}.wav"
        if not recording.exists():
            write_tone(recording, 300 + 100 * (number // per_recording), per_recording * WINDOW_SECONDS, 8000)
        start = (number % per_recording) * WINDOW_SECONDS
        label = AUDIO_CLASSES[number % len(AUDIO_CLASSES)]
        lines.append(
            f"{recording},{start:.3f},{start + WINDOW_SECONDS:.3f},{label},{label},{0.3 + number % 7 / 10:.4f}"
        )
    csv_path = root / "nights" / "prelabel.csv"
    csv_path.write_text("\n".join(lines) + "\n")
    return csv_path
