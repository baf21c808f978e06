"""Latency percentiles at batch 1 and throughput at a larger batch, for any ``predict(x)`` callable."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class LatencySample:
    """Wall-clock times (ms) of individual batch-1 calls after warm-up."""

    times_ms: tuple[float, ...]

    @property
    def p50_ms(self) -> float:
        return float(np.percentile(self.times_ms, 50))

    @property
    def p95_ms(self) -> float:
        return float(np.percentile(self.times_ms, 95))

    @property
    def max_ms(self) -> float:
        return float(max(self.times_ms))

    @property
    def mean_ms(self) -> float:
        return float(np.mean(self.times_ms))


def measure_latency(predict: Predict, example: np.ndarray, warmup: int, iterations: int) -> LatencySample:
    """Time ``iterations`` calls on one example (batch 1) after ``warmup`` untimed calls.

    Warm-up matters: the first calls pay for lazy initialisation (XNNPACK packing, memory arenas), which
    an app pays once, not per prediction.
    """
    if iterations < 1:
        raise ValueError(f"iterations must be >= 1; got {iterations}")
    batch = example[None]
    for _ in range(warmup):
        predict(batch)
    times = []
    for _ in range(iterations):
        start = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return LatencySample(tuple(times))


def measure_throughput(predict: Predict, example: np.ndarray, batch_size: int, iterations: int) -> float:
    """Samples per second for batches of ``batch_size`` copies of ``example`` (one warm-up batch)."""
    batch = np.repeat(example[None], batch_size, axis=0)
    predict(batch)
    start = time.perf_counter()
    for _ in range(iterations):
        predict(batch)
    return batch_size * iterations / (time.perf_counter() - start)
