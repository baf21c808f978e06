"""Photo augmentation on a uint8 batch, on the training device: crop, flip, rotation, TrivialAugment, IR-like
night frames (``night_frames``), erasing.

The same recipe as torchvision transforms v2 (``RandomResizedCrop``, ``RandomHorizontalFlip``,
``RandomRotation``, ``TrivialAugmentWide``, ``RandomErasing``), but with parameters drawn per item for a whole
batch (``draw``, on the CPU from the batch's seed) and applied as batch tensor operations (``apply``): every
geometric step -- crop, flip, rotation and TrivialAugment's shear/translate/rotate -- composes into one affine
matrix per item and one ``grid_sample`` over the batch; TrivialAugment's colour operations run once per
operation on the rows that drew it. torchvision's batched v2 transforms draw one parameter set for the whole
batch, which is why they are not used directly.

Differences from the per-photo v2 pipeline, kept on purpose: one interpolation (bilinear) instead of one per
geometric step; shear about the centre instead of the corner; an oversized crop or erasing box is clamped
instead of redrawn up to 10 times.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.nn import functional as F

from nightscan_edge.config import PhotoAugmentConfig
from nightscan_edge.data.augment import BatchParams
from nightscan_edge.data.night_frames import apply_ir, draw_ir, grey
from nightscan_edge.spec import ImageSpec

# TrivialAugmentWide's operations and magnitude ranges (torchvision v2, 31 bins); True = random sign.
TRIVIAL_OPS: tuple[tuple[str, float, float, bool], ...] = (
    ("Identity", 0.0, 0.0, False),
    ("ShearX", 0.0, 0.99, True),
    ("ShearY", 0.0, 0.99, True),
    ("TranslateX", 0.0, 32.0, True),
    ("TranslateY", 0.0, 32.0, True),
    ("Rotate", 0.0, 135.0, True),
    ("Brightness", 0.0, 0.99, True),
    ("Color", 0.0, 0.99, True),
    ("Contrast", 0.0, 0.99, True),
    ("Sharpness", 0.0, 0.99, True),
    ("Posterize", 8.0, 2.0, False),
    ("Solarize", 1.0, 0.0, False),
    ("AutoContrast", 0.0, 0.0, False),
    ("Equalize", 0.0, 0.0, False),
)
MAGNITUDE_BINS = 31
OP_INDEX = {name: i for i, (name, *_rest) in enumerate(TRIVIAL_OPS)}
ERASE_SCALE, ERASE_RATIO = (0.02, 0.33), (0.3, 3.3)


def normalise(images: torch.Tensor, spec: ImageSpec, in_place: bool = False) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` (or float in [0, 1]) -> the model's normalised float input; ``in_place`` (a float
    batch the caller owns) saves two batch-sized allocations per training step."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images
    mean = torch.tensor(spec.mean, device=x.device, dtype=x.dtype)[:, None, None]
    std = torch.tensor(spec.std, device=x.device, dtype=x.dtype)[:, None, None]
    if in_place or x is not images:  # a fresh float tensor from the uint8 input is ours to change as well
        return x.sub_(mean).div_(std)
    return (x - mean) / std


def renormalise(images: torch.Tensor, source: ImageSpec, target: ImageSpec) -> torch.Tensor:
    """A batch normalised for ``source`` -> the same pixels as ``target`` takes them: mean/std undone, a grey batch
    repeated to three channels for a colour model (as a grey photo is read for one), resized bilinearly to
    ``target``'s size, normalised with ``target``'s mean/std. How a teacher sees exactly the student's view."""
    if source.channels == 3 and target.channels == 1:
        raise ValueError("a colour batch has no exact grey view here; convert the photos when they are read")
    mean = torch.tensor(source.mean, device=images.device, dtype=images.dtype)[:, None, None]
    std = torch.tensor(source.std, device=images.device, dtype=images.dtype)[:, None, None]
    pixels = images * std + mean
    if target.channels != source.channels:
        pixels = pixels.expand(-1, target.channels, -1, -1)
    if target.image_size != source.image_size:
        size = (target.image_size, target.image_size)
        pixels = F.interpolate(pixels, size=size, mode="bilinear", align_corners=False, antialias=True)
    return normalise(pixels, target)


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(theta, (B, C, height, width), align_corners=False)``, the same values (to float rounding),
    computed as two broadcast multiply-adds per coordinate: ``F.affine_grid`` multiplies a ``(H*W, 3)`` base grid
    by every matrix, which measured 10x slower on one CPU thread (4.8 vs 0.5 ms for 32 photos at 128 px) -- a
    third of the whole photo augmentation."""
    xs = (torch.arange(width, device=theta.device, dtype=theta.dtype) * 2 + 1) / width - 1  # pixel centres
    ys = (torch.arange(height, device=theta.device, dtype=theta.dtype) * 2 + 1) / height - 1
    grid = torch.empty(theta.shape[0], height, width, 2, device=theta.device, dtype=theta.dtype)
    for k in range(2):  # output x (k=0) and y (k=1) sampling coordinates
        row = theta[:, k, 1, None] * ys + theta[:, k, 2, None]  # (B, H): the y term and the offset
        torch.add(theta[:, k, 0, None, None] * xs, row[:, :, None], out=grid[..., k])
    return grid


def _rotation(degrees: np.ndarray) -> np.ndarray:
    radians = np.deg2rad(degrees)
    cos, sin = np.cos(radians), np.sin(radians)
    matrix = np.zeros((len(degrees), 3, 3))
    matrix[:, 0, 0], matrix[:, 0, 1], matrix[:, 1, 0], matrix[:, 1, 1] = cos, -sin, sin, cos
    matrix[:, 2, 2] = 1
    return matrix


class PhotoAugment:
    """Draws and applies the photo recipe of ``data.photo_augment`` to uint8 batches."""

    def __init__(self, config: PhotoAugmentConfig, spec: ImageSpec) -> None:
        self.config = config
        self.spec = spec

    def draw(self, rng: np.random.Generator, batch: int) -> BatchParams:
        config, size = self.config, self.spec.image_size
        eye = np.broadcast_to(np.eye(3), (batch, 3, 3))
        # RandomResizedCrop: area share and aspect ratio -> half-extent (w, h) and centre in [-1, 1] units.
        area = rng.uniform(config.crop_scale, 1.0, batch) if config.crop_scale < 1 else np.ones(batch)
        ratio = (
            np.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3), batch)) if config.crop_scale < 1 else np.ones(batch)
        )
        w, h = np.minimum(np.sqrt(area * ratio), 1.0), np.minimum(np.sqrt(area / ratio), 1.0)
        crop = np.zeros((batch, 3, 3))
        crop[:, 0, 0], crop[:, 1, 1], crop[:, 2, 2] = w, h, 1
        crop[:, 0, 2], crop[:, 1, 2] = rng.uniform(-1, 1, batch) * (1 - w), rng.uniform(-1, 1, batch) * (1 - h)
        flip = eye.copy()
        flip[:, 0, 0] = np.where(rng.random(batch) < config.horizontal_flip_probability, -1.0, 1.0)
        rotate = _rotation(rng.uniform(-config.rotation_degrees, config.rotation_degrees, batch))
        theta = crop @ flip @ rotate
        params: BatchParams = {}
        if config.trivial_augment:
            op = draw_ops(rng, batch)
            magnitude = op_magnitudes(rng, op)
            theta = theta @ trivial_geometry(op, magnitude, size)
            params["ta_op"], params["ta_magnitude"] = op, magnitude.astype(np.float32)
        params["theta"] = theta[:, :2].astype(np.float32)
        if config.erasing_probability > 0:
            params["erase"] = draw_erasing(rng, batch, size, config.erasing_probability)
        if config.ir_probability > 0:  # drawn last: recipes without IR frames keep their random stream
            params.update(draw_ir(rng, batch, config.ir_probability))
        return params

    def apply(self, images: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
        """uint8 ``(B, C, S, S)`` on the device -> augmented, normalised float batch."""
        x = images.float().div_(255)
        grid = affine_grid(params["theta"].to(x.dtype), x.shape[-2], x.shape[-1])
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
        if "ta_op" in params:
            x = trivial_colour(x, params["ta_op"], params["ta_magnitude"])
        if "ir" in params:
            x = apply_ir(x, params)
        x = normalise(x, self.spec, in_place=True)  # x is this batch's own tensor by now
        if "erase" in params:
            x = erase(x, params["erase"])
        return x


def draw_ops(rng: np.random.Generator, batch: int) -> np.ndarray:
    return rng.integers(0, len(TRIVIAL_OPS), batch)


def op_magnitudes(rng: np.random.Generator, op: np.ndarray) -> np.ndarray:
    """A bin of 31 per item, mapped to its operation's range; signed operations get a random sign."""
    low = np.array([o[1] for o in TRIVIAL_OPS])[op]
    high = np.array([o[2] for o in TRIVIAL_OPS])[op]
    signed = np.array([o[3] for o in TRIVIAL_OPS])[op]
    step = rng.integers(0, MAGNITUDE_BINS, len(op)) / (MAGNITUDE_BINS - 1)
    magnitude = low + (high - low) * step
    sign = np.where(signed & (rng.random(len(op)) < 0.5), -1.0, 1.0)
    posterize = op == OP_INDEX["Posterize"]
    magnitude[posterize] = np.round(magnitude[posterize])
    signed_magnitude: np.ndarray = magnitude * sign
    return signed_magnitude


def trivial_geometry(op: np.ndarray, magnitude: np.ndarray, size: int) -> np.ndarray:
    """TrivialAugment's shear, translate and rotate as sampling matrices (identity for the other ops)."""
    matrix = np.broadcast_to(np.eye(3), (len(op), 3, 3)).copy()
    shear_x, shear_y = op == OP_INDEX["ShearX"], op == OP_INDEX["ShearY"]
    matrix[shear_x, 0, 1] = magnitude[shear_x]
    matrix[shear_y, 1, 0] = magnitude[shear_y]
    move_x, move_y = op == OP_INDEX["TranslateX"], op == OP_INDEX["TranslateY"]
    matrix[move_x, 0, 2] = 2 * magnitude[move_x] / size  # pixels -> [-1, 1] units
    matrix[move_y, 1, 2] = 2 * magnitude[move_y] / size
    rotate = op == OP_INDEX["Rotate"]
    matrix[rotate] = _rotation(magnitude[rotate])
    return matrix


def draw_erasing(rng: np.random.Generator, batch: int, size: int, probability: float) -> np.ndarray:
    """``(B, 4)`` int64 boxes (top, left, height, width); height 0 = not erased."""
    area = size * size * rng.uniform(*ERASE_SCALE, batch)
    ratio = np.exp(rng.uniform(math.log(ERASE_RATIO[0]), math.log(ERASE_RATIO[1]), batch))
    height = np.clip(np.round(np.sqrt(area * ratio)), 1, size - 1).astype(np.int64)
    width = np.clip(np.round(np.sqrt(area / ratio)), 1, size - 1).astype(np.int64)
    top = (rng.random(batch) * (size - height + 1)).astype(np.int64)
    left = (rng.random(batch) * (size - width + 1)).astype(np.int64)
    height = np.where(rng.random(batch) < probability, height, 0)
    return np.stack([top, left, height, width], axis=1)


def erase(x: torch.Tensor, boxes: torch.Tensor) -> torch.Tensor:
    """Zero (the mean once normalised) each item's box, as ``RandomErasing(value=0)``."""
    rows = torch.arange(x.shape[-2], device=x.device)[None, :]
    cols = torch.arange(x.shape[-1], device=x.device)[None, :]
    top, left, height, width = (boxes[:, i : i + 1] for i in range(4))
    inside = ((rows >= top) & (rows < top + height))[:, :, None] & ((cols >= left) & (cols < left + width))[:, None, :]
    return x.masked_fill(inside[:, None], 0.0)


def _blend(x: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return (factor * x + (1 - factor) * other).clamp(0, 1)


def _sharpness(x: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """PIL's SMOOTH kernel; border pixels keep their value (as torchvision's ``adjust_sharpness``)."""
    kernel = torch.tensor([[1.0, 1.0, 1.0], [1.0, 5.0, 1.0], [1.0, 1.0, 1.0]], device=x.device, dtype=x.dtype) / 13
    channels = x.shape[1]
    smooth = F.conv2d(x, kernel.expand(channels, 1, 3, 3), groups=channels)
    blurred = x.clone()
    blurred[..., 1:-1, 1:-1] = smooth
    return _blend(x, blurred, factor)


def _posterize(x: torch.Tensor, bits: torch.Tensor) -> torch.Tensor:
    mask = ((255 << (8 - bits.long())) & 255).to(torch.uint8)
    return ((x * 255).round().to(torch.uint8) & mask).float() / 255


def _autocontrast(x: torch.Tensor) -> torch.Tensor:
    low = x.amin(dim=(-2, -1), keepdim=True)
    high = x.amax(dim=(-2, -1), keepdim=True)
    spread = high - low
    return torch.where(spread > 0, (x - low) / spread.clamp(min=1e-12), x)


def _equalize(x: torch.Tensor) -> torch.Tensor:
    from torchvision.transforms.v2 import functional as TF

    equalized: torch.Tensor = TF.equalize((x * 255).round().to(torch.uint8)).float() / 255
    return equalized


COLOUR_OPS: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "Brightness": lambda x, m: (x * (1 + m)).clamp(0, 1),
    "Color": lambda x, m: _blend(x, grey(x), 1 + m),
    "Contrast": lambda x, m: _blend(x, grey(x).mean(dim=(1, 2, 3), keepdim=True), 1 + m),
    "Sharpness": lambda x, m: _sharpness(x, 1 + m),
    "Posterize": _posterize,
    "Solarize": lambda x, m: torch.where(x >= m, 1 - x, x),
    "AutoContrast": lambda x, m: _autocontrast(x),
    "Equalize": lambda x, m: _equalize(x),
}


def trivial_colour(x: torch.Tensor, op: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """TrivialAugment's colour operations on float ``[0, 1]`` images: each operation once, on its rows."""
    out = x.clone()
    for name, function in COLOUR_OPS.items():
        rows = (op == OP_INDEX[name]).nonzero().squeeze(1)
        if rows.numel():
            out[rows] = function(x[rows], magnitude[rows].to(x.dtype)[:, None, None, None])
    return out
