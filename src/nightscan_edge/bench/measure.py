"""Measuring one file of a benchmark: latency per thread count, peak memory, throughput and accuracy.

Owns ``FileBench``, the state one benchmark run shares across its files (options, example input, GEMM
ceilings, samples, progress), and how one file's runner is measured into an ``ArtifactResult``; a file
that fails is recorded with its error instead of stopping the run. ``run`` decides which files to measure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol, cast

import numpy as np

from nightscan_edge.bench.memory import PeakMemory
from nightscan_edge.bench.metrics import classification_scores
from nightscan_edge.bench.options import BenchOptions, Samples
from nightscan_edge.bench.progress import BenchProgress
from nightscan_edge.bench.result import EAGER_FORMAT, ArtifactResult, LatencyStats
from nightscan_edge.bench.timing import measure_latency, measure_throughput
from nightscan_edge.errors import DataError
from nightscan_edge.multilabel_metrics import detection_report, detections
from nightscan_edge.runtime import RuntimeUnavailableError


class _Predicts(Protocol):
    """What measuring needs of a runner (a runtime's, or the eager PyTorch one)."""

    def predict(self, x: np.ndarray) -> np.ndarray: ...


def _predict_all(runner: _Predicts, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    step = batch_size if getattr(runner, "dynamic_batch", False) else 1
    outputs = [np.asarray(runner.predict(inputs[i : i + step])) for i in range(0, len(inputs), step)]
    return np.concatenate(outputs, axis=0)


class FileBench:
    """One benchmark run's shared state (options, example input, host peaks, samples, progress)."""

    def __init__(
        self,
        options: BenchOptions,
        threads: list[int],
        example: np.ndarray,
        gemm_gflops: dict[int, float],
        total_flops: int,
        samples: Samples | None,
        labels: list[str],
        progress: BenchProgress,
        thresholds: list[float] | None = None,
    ) -> None:
        self.options = options
        self.threads = threads
        self.example = example
        self.gemm_gflops = gemm_gflops
        self.total_flops = total_flops
        self.samples = samples
        self.labels = labels
        self.progress = progress
        # a multi-label model's per-class thresholds (its manifest's, label order); None for single-label
        self.thresholds = thresholds
        self.eager_predictions: np.ndarray | None = None

    def _latency(self, runner: _Predicts, threads: int) -> LatencyStats:
        options = self.options
        sample = measure_latency(runner.predict, self.example, options.warmup, options.iterations)
        throughput = None
        if getattr(runner, "dynamic_batch", False):
            throughput = measure_throughput(
                runner.predict, self.example, options.throughput_batch, options.throughput_iterations
            )
        ideal_ms = self.total_flops / (self.gemm_gflops[threads] * 1e9) * 1e3
        return LatencyStats(
            threads=threads,
            p50_ms=sample.p50_ms,
            p95_ms=sample.p95_ms,
            max_ms=sample.max_ms,
            mean_ms=sample.mean_ms,
            iterations=options.iterations,
            throughput_per_s=throughput,
            throughput_batch=options.throughput_batch if throughput is not None else None,
            ideal_ms=ideal_ms,
            measured_over_ideal=sample.p50_ms / ideal_ms if ideal_ms > 0 else None,
        )

    def measure(
        self,
        name: str,
        format_name: str,
        precision: str,
        path: Path | None,
        size_mb: float | None,
        make_runner: Callable[[int], _Predicts],
    ) -> ArtifactResult:
        result = ArtifactResult(
            name=name,
            format=format_name,
            precision=precision,
            path=str(path) if path is not None else None,
            size_mb=size_mb,
            status="ok",
        )
        try:
            first = self.threads[0]
            # Load once untimed so a runtime's one-off library start-up is not counted as this model's memory.
            make_runner(first).predict(self.example[None])
            latencies = []
            with PeakMemory() as peak:
                runner = make_runner(first)
                latencies.append(self._latency(runner, first))
            result.peak_memory_mb = peak.added_mb
            result.dynamic_batch = bool(getattr(runner, "dynamic_batch", False))
            self.progress.advance()
            for threads in self.threads[1:]:
                runner = make_runner(threads)
                latencies.append(self._latency(runner, threads))
                self.progress.advance()
            result.latency = latencies
            if self.samples is not None:
                probabilities = _predict_all(runner, self.samples.inputs, self.options.throughput_batch)
                predictions = self._score(probabilities, result)
                if format_name == EAGER_FORMAT:
                    self.eager_predictions = predictions
                elif self.eager_predictions is not None:
                    result.agreement_with_eager = float(np.mean(predictions == self.eager_predictions))
            self.progress.advance()
        except Exception as error:  # recorded in the result and printed; the other files still run
            result.status = "unavailable" if _is_unavailable(error) else "failed"
            result.error = str(error) if result.status == "unavailable" else f"{type(error).__name__}: {error}".strip()
            self.progress.log(f"[{'yellow' if result.status == 'unavailable' else 'red'}]{name}: {result.error}")
        return result

    def _score(self, probabilities: np.ndarray, result: ArtifactResult) -> np.ndarray:
        """Accuracy-like figures into ``result``; returns the decisions compared with the eager baseline (top-1, or
        each class at its threshold)."""
        samples = cast(Samples, self.samples)
        if self.thresholds is None:
            if samples.labels.ndim == 2:
                raise DataError("the test samples hold several labels per clip but the file is single-label (softmax)")
            predictions: np.ndarray = probabilities.argmax(axis=1)
            scores = classification_scores(samples.labels, predictions, self.labels)
            result.accuracy, result.macro_f1 = scores.accuracy, scores.macro_f1
            result.per_class_recall = scores.per_class_recall
            return predictions
        targets = samples.labels if samples.labels.ndim == 2 else np.eye(len(self.labels))[samples.labels]
        report = detection_report(probabilities, targets, self.labels, self.thresholds)
        result.accuracy, result.macro_f1, result.map = report["exact_match"], report["macro_f1"], report["map"]
        result.per_class_recall = {k: v["recall"] for k, v in report["per_class"].items() if v["support"]}
        result.per_class_ap = {k: v["ap"] for k, v in report["per_class"].items()}
        return detections(probabilities, self.thresholds)


def _is_unavailable(error: Exception) -> bool:
    """The file is fine but this machine cannot run it (the runtime says so with its own error type)."""
    return isinstance(error, RuntimeUnavailableError)
