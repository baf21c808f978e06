"""Measure this CPU's practical FP32 peak with a short matrix-multiply probe.

A model that needs F floating-point operations cannot run faster than ``F / peak`` on this host, so
``measured / ideal`` says how far a runtime is from compute-bound. The peak is measured in the same run
as the latencies (not taken from a spec sheet) because turbo, shared cores and thermal state change it.
"""

from __future__ import annotations

import time

import torch


def measure_gemm_gflops(threads: int, size: int = 512, seconds: float = 0.3) -> float:
    """Best observed GFLOPS of a ``size``-square FP32 matmul with ``threads`` intra-op threads.

    The best of repeated runs (not the mean) approximates the peak: a shared machine only ever makes a
    run slower.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1; got {threads}")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        generator = torch.Generator().manual_seed(0)
        a = torch.randn(size, size, generator=generator)
        b = torch.randn(size, size, generator=generator)
        out = torch.empty(size, size)
        torch.matmul(a, b, out=out)  # warm-up: thread pool start, page faults
        flops = 2.0 * size**3
        best = float("inf")
        deadline = time.perf_counter() + seconds
        repeats = 0
        while repeats < 3 or time.perf_counter() < deadline:
            start = time.perf_counter()
            torch.matmul(a, b, out=out)
            best = min(best, time.perf_counter() - start)
            repeats += 1
        return flops / best / 1e9
    finally:
        torch.set_num_threads(previous)
