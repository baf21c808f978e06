"""Reading one file as the model's preprocessing wants it: audio -> mono float32 at the spec's rate, image ->
uint8 ``(C, H, W)`` resized to the spec's square. Unreadable files raise ``MediaError`` with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from nightscan_edge.audio.decode import AudioDecodeError, decode_audio, read_span
from nightscan_edge.audio.recording import SeekableRecording, seekable_seconds
from nightscan_edge.data.cache import MediaCache
from nightscan_edge.errors import UserError
from nightscan_edge.spec import AudioSpec, ImageSpec


class MediaError(UserError):
    """A corrupt, empty or unsupported media file."""


# Audio at least this long is read by seeking (a window at a time) instead of decoded whole: a night-long
# recording among the clips of a class would otherwise cost its hours in memory. Clips are seconds to a minute,
# so they keep the decoded, cached path unchanged.
SEEK_READ_MIN_SECONDS = 300.0


def read_audio(path: Path, spec: AudioSpec) -> np.ndarray:
    try:
        samples = decode_audio(path, spec.sample_rate)
    except AudioDecodeError as error:
        raise MediaError(str(error)) from error
    if not np.isfinite(samples).all():
        raise MediaError(f"{path}: audio holds NaN or infinite samples")
    return samples


def read_image(path: Path, spec: ImageSpec) -> np.ndarray:
    """Decoded, converted (RGB or L: IR/grayscale photos become what the model takes) and resized once."""

    try:
        with Image.open(path) as image:
            image.load()
            converted = image.convert("L" if spec.channels == 1 else "RGB")
    except (UnidentifiedImageError, OSError, ValueError, DecompressionBombError) as error:
        raise MediaError(f"{path}: not a readable image ({error}); expected JPEG or PNG") from error
    if min(converted.size) == 0:
        raise MediaError(f"{path}: image has no pixels")
    resized = converted.resize((spec.image_size, spec.image_size), Image.Resampling.BILINEAR)
    array = np.asarray(resized, dtype=np.uint8)
    return array[None] if array.ndim == 2 else np.ascontiguousarray(array.transpose(2, 0, 1))


def media_variant(spec: AudioSpec | ImageSpec) -> str:
    if isinstance(spec, AudioSpec):
        return f"audio@{spec.sample_rate}"
    return f"image@{spec.image_size}x{spec.channels}"


def read_media(path: Path, spec: AudioSpec | ImageSpec) -> np.ndarray:
    return read_audio(path, spec) if isinstance(spec, AudioSpec) else read_image(path, spec)


# A window of a longer recording, named with the W3C Media Fragments time syntax: ``night.wav#t=12.5,15.45``
# (seconds). Background windows drawn from ambient recordings are listed in split.csv this way, so a resumed run,
# export calibration and bench read exactly the same samples.
SEGMENT_MARK = "#t="


def segment_path(path: Path, start_s: float, end_s: float) -> Path:
    return Path(f"{path}{SEGMENT_MARK}{start_s:.3f},{end_s:.3f}")


def media_segment(path: Path) -> tuple[Path, tuple[float, float] | None]:
    """``night.wav#t=12.5,15.45`` -> (``night.wav``, (12.5, 15.45)); a plain path -> (path, None)."""
    text = str(path)
    if SEGMENT_MARK not in text:
        return Path(path), None
    source, _, times = text.rpartition(SEGMENT_MARK)
    try:
        start_s, end_s = (float(part) for part in times.split(","))
    except ValueError:
        raise MediaError(f"{path}: a segment is written file{SEGMENT_MARK}START,END in seconds") from None
    return Path(source), (start_s, end_s)


def _long_recording(source: Path) -> bool:
    """An audio file long enough (and seekable) to be read a window at a time."""
    try:
        seconds = seekable_seconds(source)
    except AudioDecodeError as error:
        raise MediaError(str(error)) from error
    return seconds is not None and seconds >= SEEK_READ_MIN_SECONDS


def load_cached_media(path: Path, spec: AudioSpec | ImageSpec, cache: MediaCache) -> np.ndarray | SeekableRecording:
    """``read_media`` through ``cache`` (a ``MediaCache``); a segment path decodes (once) and slices its file.

    A recording of ``SEEK_READ_MIN_SECONDS`` or more is never decoded whole: it comes back as a
    ``SeekableRecording`` (checked by streaming it once), and a segment of it reads just that stretch.
    """
    source, segment = media_segment(path)
    if not source.is_file():
        raise MediaError(f"{source}: file not found")
    if source.stat().st_size == 0:
        raise MediaError(f"{source}: empty file")
    if isinstance(spec, AudioSpec) and _long_recording(source):
        try:
            if segment is None:
                return SeekableRecording.open(source, spec.sample_rate)
            start, end = (int(round(t * spec.sample_rate)) for t in segment)
            return read_span(source, spec.sample_rate, start, max(end - start, 0))
        except AudioDecodeError as error:
            raise MediaError(str(error)) from error
    array = cache.get_or_load(source, media_variant(spec), lambda p: read_media(p, spec))
    if segment is None:
        return array
    if not isinstance(spec, AudioSpec):
        raise MediaError(f"{path}: time segments apply to audio only")
    start, end = (int(round(t * spec.sample_rate)) for t in segment)
    return array[start:end]
