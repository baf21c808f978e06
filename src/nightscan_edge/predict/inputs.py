"""Turning files into model inputs using only the spec: streamed audio windows, normalised images.

Photos are decoded with PIL and normalised with numpy (no torchvision, no training code), exactly the steps
written in README "Prediction on the edge" section so that a phone app can repeat them.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from nightscan_edge.audio.decode import AUDIO_SUFFIXES, AudioDecodeError, iter_audio_blocks
from nightscan_edge.errors import UserError
from nightscan_edge.predict.windows import Window, hop_samples, sliding_windows
from nightscan_edge.spec import AudioSpec, ImageSpec

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"GIF8", b"BM", b"RIFF", b"II*\x00", b"MM\x00*")
DECODE_BLOCK_SECONDS = 30.0


class InputError(UserError):
    """A file that cannot be turned into model input (wrong kind, corrupt, empty)."""


def looks_like_image(path: Path) -> bool:
    """Image by suffix or magic bytes (RIFF is WAV too, so it only counts with an image suffix)."""
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    with open(path, "rb") as handle:
        head = handle.read(8)
    return any(head.startswith(magic) for magic in _IMAGE_MAGIC if magic != b"RIFF")


def expand_paths(paths: list[str | Path], input_kind: str) -> list[Path]:
    """Files as given (so a bad file gets an error row) plus the matching media files inside folders."""
    suffixes = AUDIO_SUFFIXES if input_kind == "audio" else IMAGE_SUFFIXES
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            # a dangling link is kept so that it gets its own error row instead of vanishing from the batch
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if (p.is_file() or (p.is_symlink() and not p.exists())) and p.suffix.lower() in suffixes
                )
            )
        else:
            files.append(path)
    return files


def check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path} does not exist")
    if path.stat().st_size == 0:
        raise InputError(f"{path} is empty (0 bytes)")


def wav_missing_bytes(path: Path) -> int:
    """Bytes a WAV's header promises beyond the end of the file (libsndfile silently reads what is there).

    A recorder that loses power mid-recording leaves exactly this: a header for the planned length and less
    data. Non-WAV files return 0 (FLAC/OGG decoders report truncation themselves).
    """
    size = path.stat().st_size
    with open(path, "rb") as handle:
        if handle.read(12)[8:12] != b"WAVE":
            return 0
        handle.seek(0)
        if handle.read(4) != b"RIFF":
            return 0
        handle.seek(12)
        while True:
            header = handle.read(8)
            if len(header) < 8:
                return 0
            chunk_id = header[:4]
            chunk_size: int = struct.unpack("<I", header[4:])[0]
            if chunk_id == b"data":
                return max(0, chunk_size - (size - handle.tell()))
            handle.seek(chunk_size + (chunk_size & 1), io.SEEK_CUR)


def audio_windows(
    path: Path, spec: AudioSpec, hop_seconds: float | None = None, span: tuple[int, int | None] | None = None
) -> Iterator[Window]:
    """Stream a recording of any length as model windows (see README "Prediction on the edge" section for the rules).

    A truncated file yields the windows of the part present and then raises ``InputError`` saying so.
    ``span = (first_sample, stop_sample or None)`` cuts windows from that part of the recording only, with
    start times counted from the recording's start; ``nightscan_edge.predict.archive`` chooses spans whose
    windows are exactly the whole file's (see ``plan_spans``). Truncation is reported by the last span.
    """
    check_readable(path)
    if looks_like_image(path):
        raise InputError(
            f"{path} is an image but this model classifies audio; pass WAV/FLAC/OGG/MP3 files or a photo model"
        )
    hop = hop_samples(spec.clip_samples, spec.sample_rate, hop_seconds)
    first, stop = span or (0, None)
    missing = wav_missing_bytes(path) if stop is None else 0
    blocks = iter_audio_blocks(
        path, spec.sample_rate, block_seconds=DECODE_BLOCK_SECONDS, start_sample=first, stop_sample=stop
    )
    try:
        for window in sliding_windows(blocks, spec.clip_samples, hop, spec.pad_mode):
            yield (
                window if not first else Window(window.start_sample + first, window.end_sample + first, window.samples)
            )
    except AudioDecodeError as error:
        raise InputError(str(error)) from error
    if missing:
        raise InputError(
            f"{path}: truncated WAV ({missing} bytes promised by the header are missing); "
            "predictions cover the part present"
        )


def image_array(source: Path | bytes, spec: ImageSpec) -> np.ndarray:
    """One image -> ``(C, H, W)`` float32: convert, bilinear resize to a square, scale to [0,1], normalise."""

    name = str(source) if isinstance(source, Path) else "upload"
    if isinstance(source, Path):
        check_readable(source)
        if source.suffix.lower() in AUDIO_SUFFIXES:
            raise InputError(
                f"{source} is audio but this model classifies photos; pass JPEG/PNG files or an audio model"
            )
    try:
        with Image.open(source if isinstance(source, Path) else io.BytesIO(source)) as opened:
            image = opened.convert("L" if spec.channels == 1 else "RGB")
            image = image.resize((spec.image_size, spec.image_size), Image.Resampling.BILINEAR)
            pixels = np.asarray(image, dtype=np.float32) / 255.0
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, DecompressionBombError) as error:
        raise InputError(f"{name}: not a readable image ({error}); expected JPEG or PNG") from error
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    mean = np.asarray(spec.mean, dtype=np.float32)
    std = np.asarray(spec.std, dtype=np.float32)
    return np.ascontiguousarray(((pixels - mean) / std).transpose(2, 0, 1), dtype=np.float32)
