"""Zero-shot pre-labelling of raw night recordings with BirdNET's own 6,522 labels: the fastest way to start a
data set. Every 3 s window (no overlap, as BirdNET-Analyzer's default) gets BirdNET's most confident label among
the allowed species; windows at or above ``min_confidence`` go to a draft CSV (path, start/end, label,
confidence) for a person to review, and are written as WAV clips into one folder per label -- a tree that
``nightscan-edge train --data`` reads directly once reviewed.

Bad input: a recording shorter than BirdNET's minimum (0.1 s) is skipped with its length, silent windows are
skipped and counted, and a source in which nothing can be used (every recording undecodable or too short, or every
window silent) is refused in one line before anything is written.

Confidences are BirdNET's: a sigmoid of each label's logit (sensitivity 1, logits clipped to +-15, as
BirdNET-Analyzer computes them). They are independent per label, not a softmax.
"""

from __future__ import annotations

import csv
import difflib
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile

from nightscan_edge.atomic import write_bytes_atomic, write_text_atomic
from nightscan_edge.audio.decode import AUDIO_SUFFIXES, AudioDecodeError, audio_files_under, iter_audio_blocks
from nightscan_edge.models.birdnet_extractor import (
    BIRDNET_LICENCE,
    BIRDNET_SAMPLE_RATE,
    BIRDNET_WINDOW_SAMPLES,
    MIN_CLIP_SECONDS,
    BirdNetError,
    get_birdnet,
    is_silent,
    unusable_reason,
)
from nightscan_edge.predict.windows import batched, sliding_windows

CSV_COLUMNS = ("path", "start_s", "end_s", "label", "common_name", "confidence")
BATCH_WINDOWS = 16


@dataclass
class PrelabelReport:
    recordings: int = 0
    windows: int = 0
    kept: int = 0
    silent_windows: int = 0
    failed: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    csv_path: Path | None = None
    clips_dir: Path | None = None
    licence: str = BIRDNET_LICENCE

    def summary_lines(self) -> list[str]:
        lines = [
            f"{self.recordings} recording(s), {self.windows} window(s) of 3 s; kept {self.kept} -> {self.csv_path}",
            f"clips for review, one folder per label: {self.clips_dir}",
        ]
        lines += [f"  {label:48s} {count}" for label, count in sorted(self.counts.items(), key=lambda kv: -kv[1])]
        if self.silent_windows:
            lines.append(f"{self.silent_windows} silent window(s) skipped")
        lines += [f"skipped: {reason}" for reason in self.failed]
        lines.append(f"labels by BirdNET V2.4, licence {self.licence.split(' (')[0]}: review every row before training")
        return lines


def birdnet_confidence(logits: np.ndarray) -> np.ndarray:
    """BirdNET-Analyzer's flat sigmoid (sensitivity 1)."""
    confidence: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(logits, -15.0, 15.0)))
    return confidence


def resolve_species(names: list[str] | None, labels: list[str]) -> np.ndarray:
    """Indices of the allowed labels; a name matches a full label, its scientific or its common name (any case)."""
    if not names:
        return np.arange(len(labels))
    index: dict[str, list[int]] = {}
    for position, label in enumerate(labels):
        scientific, _, common = label.partition("_")
        for key in {label, scientific, common}:
            index.setdefault(key.casefold(), []).append(position)
    chosen: list[int] = []
    for name in names:
        found = index.get(name.strip().casefold())
        if not found:
            close = difflib.get_close_matches(name.casefold(), list(index), n=3, cutoff=0.75)
            hint = f"; close: {', '.join(close)}" if close else ""
            raise BirdNetError(
                f"--species '{name}' is not among BirdNET V2.4's {len(labels):,} labels (scientific or common name as "
                f"in BirdNET_GLOBAL_6K_V2.4_Labels.txt, e.g. 'Strix aluco' or 'Tawny Owl'){hint}"
            )
        chosen += found
    return np.array(sorted(set(chosen)))


def _recordings(source: Path) -> list[Path]:
    if source.is_file():
        return [source]
    if not source.is_dir():
        raise FileNotFoundError(f"{source} does not exist; give a recording or a folder of recordings")
    paths = audio_files_under(source)
    if not paths:
        raise BirdNetError(f"{source} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return paths


def _folder_name(label: str) -> str:
    return re.sub(r"[^\w .'-]+", "_", label).strip() or "unnamed"


def _wav(samples: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, samples, BIRDNET_SAMPLE_RATE, format="WAV", subtype="PCM_16")
    return buffer.getvalue()


def prelabel(
    recordings: str | Path,
    out_csv: str | Path,
    species: list[str] | None = None,
    min_confidence: float = 0.5,
    clips_dir: str | Path | None = None,
    threads: int = 1,
) -> PrelabelReport:
    """Label every 3 s window of ``recordings`` with BirdNET; write the draft CSV and the per-label clips."""
    if not 0.0 <= min_confidence <= 1.0:
        raise BirdNetError(f"--min-confidence must be between 0 and 1; got {min_confidence}")
    source, out_csv = Path(recordings), Path(out_csv)
    paths = _recordings(source)
    birdnet = get_birdnet(threads)
    allowed = resolve_species(species, birdnet.labels)
    clips_dir = Path(clips_dir) if clips_dir else out_csv.with_name(out_csv.stem + "-clips")
    report = PrelabelReport(recordings=len(paths), csv_path=out_csv, clips_dir=clips_dir)
    rows: list[dict[str, str]] = []
    for path in paths:
        try:
            blocks = iter_audio_blocks(path, BIRDNET_SAMPLE_RATE)
            windows = sliding_windows(blocks, BIRDNET_WINDOW_SAMPLES, BIRDNET_WINDOW_SAMPLES, pad_mode="zero")
            for batch in batched(windows, BATCH_WINDOWS):
                first = batch[0]
                if first.start_sample == 0 and first.end_sample < MIN_CLIP_SECONDS * BIRDNET_SAMPLE_RATE:
                    # the whole recording is shorter than BirdNET's minimum (one window is all there is)
                    reason = unusable_reason(first.samples[: first.end_sample], BIRDNET_SAMPLE_RATE)
                    report.failed.append(f"{path}: {reason}")
                    break
                report.windows += len(batch)
                audible = [w for w in batch if not is_silent(w.samples)]
                report.silent_windows += len(batch) - len(audible)
                if not audible:
                    continue
                _, logits = birdnet.run(np.stack([w.samples for w in audible]))
                confidence = birdnet_confidence(logits[:, allowed])
                for window, scores in zip(audible, confidence, strict=True):
                    best = int(scores.argmax())
                    if scores[best] < min_confidence:
                        continue
                    label = birdnet.labels[int(allowed[best])]
                    start_s, end_s = window.start_sample / BIRDNET_SAMPLE_RATE, window.end_sample / BIRDNET_SAMPLE_RATE
                    clip = clips_dir / _folder_name(label) / f"{path.stem}_{start_s:09.3f}s.wav"
                    write_bytes_atomic(clip, _wav(window.samples))
                    rows.append(
                        {
                            "path": str(path),
                            "start_s": f"{start_s:.3f}",
                            "end_s": f"{end_s:.3f}",
                            "label": label,
                            "common_name": label.partition("_")[2] or label,
                            "confidence": f"{float(scores[best]):.4f}",
                        }
                    )
                    report.counts[label] = report.counts.get(label, 0) + 1
        except AudioDecodeError as error:
            report.failed.append(str(error))
    if len(report.failed) == len(paths):
        raise BirdNetError(f"no recording could be used: {report.failed[0]}")
    if report.windows and report.silent_windows == report.windows:
        skipped = f" ({len(report.failed)} more skipped, e.g. {report.failed[0]})" if report.failed else ""
        raise BirdNetError(
            f"every window of {source} is silent (peak below -100 dBFS){skipped}: nothing for BirdNET to label; "
            "check the recorder's input gain or the files"
        )
    report.kept = len(rows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    write_text_atomic(out_csv, buffer.getvalue())
    return report
