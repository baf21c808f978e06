"""Labelled clips cut from annotations: ``OUT/<label>/<recording>_<start>s.wav``, the class-per-folder tree
``train --data`` reads. Only each annotated stretch is read (a seek into the recording), at the recording's own
rate and channels, so cutting ten clips from a night-long file costs ten clips, not the night."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import soundfile

from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.data.annotations.table import Annotation, check_annotations

# Subtypes a WAV clip keeps from its recording; anything else (MP3, Vorbis) becomes 16-bit PCM.
KEPT_SUBTYPES = ("PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE")


@dataclass
class ClipsReport:
    out_dir: Path
    counts: dict[str, int] = field(default_factory=dict)

    def summary_lines(self) -> list[str]:
        total = sum(self.counts.values())
        lines = [f"{total} clip(s) in {len(self.counts)} label folder(s) -> {self.out_dir}"]
        return lines + [f"  {label:32s} {count}" for label, count in sorted(self.counts.items())]


def label_folder(label: str) -> str:
    """A label as a folder name: path separators and other unsafe characters become ``_``."""
    return re.sub(r"[^\w .'-]+", "_", label).strip(" .") or "unnamed"


def read_stretch(path: Path, start_s: float, end_s: float) -> bytes:
    """The stretch as WAV bytes, seeking to it and reading only its frames."""
    with soundfile.SoundFile(str(path)) as handle:
        start = min(int(round(start_s * handle.samplerate)), handle.frames)
        stop = min(int(round(end_s * handle.samplerate)), handle.frames)
        handle.seek(start)
        samples = handle.read(stop - start, dtype="float32", always_2d=True)
        subtype = handle.subtype if handle.subtype in KEPT_SUBTYPES else "PCM_16"
        buffer = io.BytesIO()
        soundfile.write(buffer, samples, handle.samplerate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def clips_from_annotations(annotations: Sequence[Annotation], out_dir: str | Path) -> ClipsReport:
    """One WAV clip per annotation; every row is checked against its recording before the first clip is written."""
    check_annotations(annotations)
    report = ClipsReport(Path(out_dir))
    for annotation in annotations:
        folder = label_folder(annotation.label)
        clip = report.out_dir / folder / f"{annotation.path.stem}_{annotation.start_s:09.3f}s.wav"
        data = read_stretch(annotation.path, annotation.start_s, annotation.end_s)
        write_bytes_atomic(clip, data)
        report.counts[folder] = report.counts.get(folder, 0) + 1
    return report
