"""Pictures of the data for people: a log-mel spectrogram per recording and a thumbnail per photo.

The spectrogram is computed by the project's own ``LogMel`` (the front-end the models are trained with), so
what a biologist sees is what the model hears: the default ``AudioSpec`` (22,050 Hz, 128 mel bands), one
model window after another. Pictures are cached on disk under the data dir, keyed by the file's path, size
and modification time, so a page of 100 recordings is drawn once.
"""

from __future__ import annotations

import hashlib
import io
import math
import threading
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from nightscan_edge.atomic import write_bytes_atomic
from nightscan_edge.audio import LogMel, decode_audio
from nightscan_edge.audio.decode import read_span
from nightscan_edge.spec import AudioSpec

MAX_SPECTROGRAM_SECONDS = 30.0  # longer recordings show their first 30 s (the page says so)
THUMBNAIL_PX = 160
_draw_lock = threading.Lock()  # matplotlib's pyplot state is per process


@lru_cache(maxsize=4)
def _front_end(spec: AudioSpec) -> LogMel:
    return LogMel(spec).eval()


def log_mel_image(samples: np.ndarray, spec: AudioSpec) -> np.ndarray:
    """``(n_mels, frames)`` dB image of a whole recording: consecutive model windows, the last zero-padded,
    cut back to the frames the recording really fills."""
    clip = spec.clip_samples
    windows = max(1, math.ceil(len(samples) / clip))
    padded = np.zeros(windows * clip, dtype=np.float32)
    padded[: len(samples)] = samples
    with torch.no_grad():
        mel = _front_end(spec)(torch.from_numpy(padded.reshape(windows, clip)))[:, 0]  # (W, mels, frames)
    image = torch.cat(list(mel), dim=-1).numpy()
    frames = max(1, math.ceil(len(samples) / spec.hop_length))
    return image[:, : min(frames, image.shape[1])]


def render_spectrogram(
    samples: np.ndarray, spec: AudioSpec, windows: list[dict[str, Any]] | None = None, title: str = ""
) -> bytes:
    """PNG of the log-mel image with a time axis in seconds; ``windows`` (``start_s, end_s, label,
    confidence, edge``) are drawn as labelled bands under it (the Try-it page)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    image = log_mel_image(samples, spec)
    seconds = len(samples) / spec.sample_rate
    with _draw_lock:
        height = 2.6 if windows else 1.9
        figure, axis = plt.subplots(figsize=(8, height), dpi=100)
        axis.imshow(image, origin="lower", aspect="auto", cmap="magma", extent=(0, seconds, 0, spec.n_mels))
        axis.set_xlabel("seconds")
        axis.set_ylabel("mel band")
        if title:
            axis.set_title(title, fontsize=9)
        for window in windows or []:
            colour = "#2ca02c" if window.get("edge") else "#ff7f0e"
            axis.axvspan(window["start_s"], window["end_s"], ymin=0, ymax=0.12, color=colour, alpha=0.75)
            axis.text(
                (window["start_s"] + window["end_s"]) / 2,
                spec.n_mels * 0.03,
                f"{window['label']} {window['confidence']:.0%}",
                ha="center",
                va="bottom",
                fontsize=7,
                color="white",
                clip_on=True,
            )
        figure.tight_layout()
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png")
        plt.close(figure)
    return buffer.getvalue()


def _cache_path(cache_dir: Path, path: Path, kind: str) -> Path:
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{kind}".encode()).hexdigest()[:24]
    return cache_dir / f"{key}.{'png' if kind.startswith('spectrogram') else 'jpg'}"


def spectrogram_png(path: Path, cache_dir: Path, spec: AudioSpec | None = None) -> bytes:
    """The cached spectrogram PNG of an audio file (first ``MAX_SPECTROGRAM_SECONDS``)."""
    spec = spec or AudioSpec()
    cached = _cache_path(cache_dir, path, "spectrogram")
    if cached.is_file():
        return cached.read_bytes()
    samples = decode_audio(path, spec.sample_rate)[: int(MAX_SPECTROGRAM_SECONDS * spec.sample_rate)]
    png = render_spectrogram(samples, spec)
    write_bytes_atomic(cached, png)
    return png


def thumbnail_jpeg(path: Path, cache_dir: Path) -> bytes:
    """A cached JPEG no larger than ``THUMBNAIL_PX`` on its long side."""
    cached = _cache_path(cache_dir, path, "thumbnail")
    if cached.is_file():
        return cached.read_bytes()
    with Image.open(path) as original:
        image = original.convert("RGB")
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG", quality=85)

    write_bytes_atomic(cached, buffer.getvalue())
    return buffer.getvalue()


# Colours of the review picture from quiet to loud (dark blue -> purple -> orange -> pale yellow), close to the
# magma map of the data page's plots without drawing a plot: a window's picture costs milliseconds, not a figure.
_QUIET_TO_LOUD = np.array([[0, 0, 4], [59, 15, 112], [140, 41, 129], [222, 73, 104], [254, 159, 109], [252, 253, 191]])
REVIEW_PICTURE_PX = (800, 200)
REVIEW_DYNAMIC_RANGE_DB = 80.0


def window_spectrogram_png(
    path: Path, start_s: float, end_s: float, cache_dir: Path, spec: AudioSpec | None = None
) -> bytes:
    """The cached log-mel picture (PNG, low bands at the bottom, the loudest 80 dB shown) of one window
    ``[start_s, end_s)`` of a recording, read by seeking to it: a window of a night-long file costs the window."""
    spec = spec or AudioSpec()
    cached = _cache_path(cache_dir, path, f"spectrogram|{start_s:.3f}|{end_s:.3f}")
    if cached.is_file():
        return cached.read_bytes()
    start = int(round(start_s * spec.sample_rate))
    length = max(1, int(round(min(end_s - start_s, MAX_SPECTROGRAM_SECONDS) * spec.sample_rate)))
    image = log_mel_image(read_span(path, spec.sample_rate, start, length), spec)
    loudness = np.clip((image - image.max()) / REVIEW_DYNAMIC_RANGE_DB + 1.0, 0.0, 1.0)[::-1]
    anchors = np.linspace(0.0, 1.0, len(_QUIET_TO_LOUD))
    rgb = np.stack([np.interp(loudness, anchors, _QUIET_TO_LOUD[:, c]) for c in range(3)], axis=-1)
    picture = Image.fromarray(rgb.astype(np.uint8), "RGB").resize(REVIEW_PICTURE_PX, Image.Resampling.BILINEAR)
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", compress_level=1)
    write_bytes_atomic(cached, buffer.getvalue())
    return buffer.getvalue()
