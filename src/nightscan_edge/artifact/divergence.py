"""How far a quantized file's outputs are from FP32's: the score behind the accuracy-aware INT8 retry's ranking of
layers (ONNX and LiteRT alike). Softmax rows are compared as one distribution each; sigmoid rows (multi-label
files) as one Bernoulli per class, where a row-wise KL of unnormalized scores would mean nothing."""

from __future__ import annotations

import numpy as np

_EPSILON = 1e-7


def mean_kl(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Mean KL(reference || candidate) per input: categorical for rows summing to 1, else summed per-class
    Bernoulli KL."""
    p, q = np.clip(reference, _EPSILON, 1.0), np.clip(candidate, _EPSILON, 1.0)
    if np.allclose(reference.sum(axis=1), 1.0, atol=1e-3):
        return float(np.mean(np.sum(p * np.log(p / q), axis=1)))
    p1, q1 = np.clip(1.0 - reference, _EPSILON, 1.0), np.clip(1.0 - candidate, _EPSILON, 1.0)
    return float(np.mean(np.sum(p * np.log(p / q) + p1 * np.log(p1 / q1), axis=1)))
