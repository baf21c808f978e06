"""Night frames: camera traps shoot monochrome infrared after dark, so a colour-trained photo model meets grey,
flat, noisy, soft frames at night. This module owns both sides of that:

- **training** (``data.photo_augment.ir_probability``): a share of each batch turned into IR-like frames -- grey
  (ITU-R 601 luma on every channel), lower contrast, a brightness gain, sensor noise and a slight blur. As the
  other photo augmentations, ``draw_ir`` draws every random number (noise as one seed per row) on the CPU from the
  batch seed, and ``apply_ir`` applies them to the batch on the device: reproducible, testable without randomness;
- **evaluation**: ``grey_photos`` turns a split into the grey frames a night camera would give (Pillow's own
  ``convert("L")`` arithmetic, replicated on the three channels), for the grey validation accuracy reported next
  to the colour one.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.nn import functional as F

# ITU-R 601-2 luma, the weights of Pillow's convert("L") (and torchvision's rgb_to_grayscale)
LUMA = (0.299, 0.587, 0.114)
# Pillow's fixed-point form of LUMA (Convert.c: L24 = R*19595 + G*38470 + B*7471, rounded, >> 16)
_LUMA_FIXED = (19595, 38470, 7471)
# Ranges drawn per IR frame: contrast factor (IR frames are flat), brightness gain (IR flash / dusk), noise std
# (on the [0, 1] scale; high-ISO sensor noise) and blur blend (0 = sharp, 1 = the 3x3 Gaussian).
IR_CONTRAST = (0.35, 0.85)
IR_GAIN = (0.7, 1.3)
IR_NOISE_STD = (0.01, 0.06)
IR_BLUR = (0.0, 1.0)
_BLUR_KERNEL = torch.tensor([1.0, 2.0, 1.0])


def grey(x: torch.Tensor) -> torch.Tensor:
    """Float ``(B, C, H, W)`` -> ``(B, 1, H, W)`` luma (a 1-channel batch as it is)."""
    if x.shape[1] == 1:
        return x
    weights = torch.tensor(LUMA, device=x.device, dtype=x.dtype)[None, :, None, None]
    return (x * weights).sum(dim=1, keepdim=True)


def grey_photos(images: list[np.ndarray]) -> list[np.ndarray]:
    """uint8 ``(3, H, W)`` photos -> the same photos in grey on all three channels (Pillow's ``convert("L")``
    then ``convert("RGB")``, exactly); 1-channel photos are returned as they are."""
    out = []
    for image in images:
        if image.shape[0] == 1:
            out.append(image)
            continue
        red, green, blue = (image[c].astype(np.uint32) for c in range(3))
        luma = ((red * _LUMA_FIXED[0] + green * _LUMA_FIXED[1] + blue * _LUMA_FIXED[2] + 0x8000) >> 16).astype(np.uint8)
        out.append(np.ascontiguousarray(np.broadcast_to(luma, image.shape)))
    return out


def draw_ir(rng: np.random.Generator, batch: int, probability: float) -> dict[str, np.ndarray]:
    """Per row: whether it becomes an IR frame, and that frame's contrast, gain, noise level, blur and noise seed."""
    return {
        "ir": rng.random(batch) < probability,
        "ir_contrast": rng.uniform(*IR_CONTRAST, batch).astype(np.float32),
        "ir_gain": rng.uniform(*IR_GAIN, batch).astype(np.float32),
        "ir_noise_std": rng.uniform(*IR_NOISE_STD, batch).astype(np.float32),
        "ir_blur": rng.uniform(*IR_BLUR, batch).astype(np.float32),
        "ir_noise_seed": rng.integers(0, 2**62, batch, dtype=np.int64),
    }


def _blurred(frames: torch.Tensor) -> torch.Tensor:
    """3x3 Gaussian ([1, 2, 1] / 4 each way), edges replicated."""
    kernel = _BLUR_KERNEL.to(frames.device, frames.dtype)
    kernel = (kernel[:, None] * kernel[None, :] / 16)[None, None]
    return F.conv2d(F.pad(frames, (1, 1, 1, 1), mode="replicate"), kernel)


def _noise(seeds: torch.Tensor, shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """Unit Gaussian noise per row from that row's seed (the same frame on any rank or batch slicing)."""
    rows = []
    for seed in seeds.tolist():
        generator = torch.Generator(device=like.device).manual_seed(int(seed))
        rows.append(torch.randn(shape, generator=generator, device=like.device, dtype=like.dtype))
    return torch.stack(rows)


def apply_ir(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Float ``[0, 1]`` ``(B, C, H, W)`` -> the batch with its drawn rows turned into IR-like frames."""
    rows = params["ir"].to(torch.bool).nonzero().squeeze(1).to(x.device)
    if rows.numel() == 0:
        return x

    def per_row(key: str) -> torch.Tensor:
        return params[key].to(x.device)[rows].to(x.dtype)[:, None, None, None]

    frames = grey(x[rows])
    mean = frames.mean(dim=(1, 2, 3), keepdim=True)
    frames = (mean + per_row("ir_contrast") * (frames - mean)) * per_row("ir_gain")
    blur = per_row("ir_blur")
    frames = blur * _blurred(frames) + (1 - blur) * frames
    seeds = params["ir_noise_seed"][rows.cpu()]
    frames = frames + per_row("ir_noise_std") * _noise(seeds, tuple(frames.shape[1:]), frames)
    out = x.clone()
    out[rows] = frames.clamp(0, 1).expand(-1, x.shape[1], -1, -1)
    return out
