"""Reading one file as the model's preprocessing wants it: audio -> mono float32 at the spec's rate, image ->
uint8 ``(C, H, W)`` resized to the spec's square. Unreadable files raise ``MediaError`` with the reason.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from nightscan_edge.audio.decode import AudioDecodeError, decode_audio
from nightscan_edge.errors import UserError
from nightscan_edge.spec import AudioSpec, ImageSpec


class MediaError(UserError):
    """A corrupt, empty or unsupported media file."""


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
