"""How a benchmark runs: the config's ``bench`` section (``Config.bench``: thread counts, warm-up, timed
iterations, throughput batch) plus what one call adds (test set, sample limit, eager baseline), and the
labeled samples it scores accuracy on."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from nightscan_edge.config import BenchConfig
from nightscan_edge.config_layers import format_validation_error
from nightscan_edge.data.samples import load_folder_samples, load_run_samples
from nightscan_edge.run_folder import RunFolder
from nightscan_edge.spec import AudioSpec, ImageSpec


class BenchOptions:
    """``config`` is a ``BenchConfig`` (a run's ``Config.bench``); keyword values override its fields.

    Keyword construction (``BenchOptions(threads=(1, 2), iterations=4)``) works as before the config section
    existed; the values are validated by the config schema, so the CLI, a config file and Python callers
    accept and refuse the same options.
    """

    def __init__(
        self,
        config: BenchConfig | None = None,
        *,
        threads: tuple[int, ...] | list[int] | None = None,
        warmup: int | None = None,
        iterations: int | None = None,
        throughput_batch: int | None = None,
        throughput_iterations: int = 5,
        data: Path | None = None,  # labeled folder / manifest CSV; default: the run's test (else val) split
        sample_limit: int | None = None,
        include_eager: bool = True,
    ) -> None:
        overrides = {"threads": threads, "warmup": warmup, "iterations": iterations}
        overrides["throughput_batch"] = throughput_batch
        values: dict[str, Any] = (config or BenchConfig()).model_dump()
        values.update({key: value for key, value in overrides.items() if value is not None})
        values["threads"] = list(values["threads"])
        try:
            self.config = BenchConfig.model_validate(values)
        except ValidationError as error:
            raise ValueError(format_validation_error(error)) from None
        if throughput_iterations < 1:
            raise ValueError(f"throughput iterations must be >= 1; got {throughput_iterations}")
        if sample_limit is not None and sample_limit < 1:
            raise ValueError(f"sample limit must be >= 1; got {sample_limit}")
        self.throughput_iterations = throughput_iterations
        self.data = data
        self.sample_limit = sample_limit
        self.include_eager = include_eager

    @property
    def threads(self) -> tuple[int, ...]:  # 0 = all usable cores
        return tuple(self.config.threads)

    @property
    def warmup(self) -> int:
        return self.config.warmup

    @property
    def iterations(self) -> int:
        return self.config.iterations

    @property
    def throughput_batch(self) -> int:
        return self.config.throughput_batch


@dataclass
class Samples:
    inputs: np.ndarray
    labels: np.ndarray
    source: str


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def resolve_threads(requested: tuple[int, ...]) -> list[int]:
    """``0`` -> all usable cores; duplicates removed, order kept (1 thread first by convention)."""
    resolved: list[int] = []
    for count in requested:
        count = count or usable_cores()
        if count not in resolved:
            resolved.append(count)
    return resolved


def cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _evaluation_split(run_dir: Path) -> str:
    """The run's held-out test split when it has one, else its validation split."""
    return "test" if RunFolder(run_dir).read_split().of("test") else "val"


def load_samples(
    options: BenchOptions, spec: AudioSpec | ImageSpec, labels: list[str], run_dir: Path | None
) -> Samples | None:
    """Labeled inputs exactly as the exported files take them, or ``None`` when there is no labeled set."""
    if options.data is not None:
        inputs, targets, _ = load_folder_samples(options.data, spec, labels, limit=options.sample_limit)
        return Samples(inputs, targets, str(options.data))
    if run_dir is None:
        return None  # a bundle, or a checkpoint saved outside training: no labeled split to score on
    run = RunFolder(run_dir)
    if not all(path.is_file() for path in (run.split, run.config, run.labels_file)):
        return None
    split = _evaluation_split(run_dir)
    inputs, targets, _ = load_run_samples(run_dir, split=split, limit=options.sample_limit)
    return Samples(inputs, targets, f"{run_dir} ({split} split)")
