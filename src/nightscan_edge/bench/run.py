"""Run the benchmark: every artifact of an export (and PyTorch eager) -> one ``BenchResult``.

For each file, in its real runtime (``nightscan_edge.runtime.load_runner``): size, batch-1 latency
percentiles after warm-up at each thread count, peak memory of load + inference, throughput at a larger
batch when the file has a dynamic batch, and accuracy / macro-F1 / per-class recall on labeled samples.
Audio files take the raw waveform, so their latency covers the whole job (front-end included).
One file failing (a runtime missing, a platform that cannot run it) is recorded with its error and does
not stop the others. How one file is measured lives in ``measure``.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightscan_edge.artifact.birdnet_tflite import BIRDNET_V24, graph_flops
from nightscan_edge.bench.devices import list_device_classes
from nightscan_edge.bench.eager import EagerRunner
from nightscan_edge.bench.gemm_probe import measure_gemm_gflops
from nightscan_edge.bench.measure import FileBench
from nightscan_edge.bench.options import BenchOptions, Samples, cpu_name, load_samples, resolve_threads, usable_cores
from nightscan_edge.bench.progress import NoProgress, RichProgress
from nightscan_edge.bench.result import (
    EAGER_FORMAT,
    ArtifactResult,
    BenchResult,
    DeviceEstimate,
    EvaluationSet,
    HostInfo,
)
from nightscan_edge.bench.sources import BenchSource, open_source
from nightscan_edge.bench.targets import SEED_TARGETS
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.models import create_model, measure_complexity
from nightscan_edge.models.birdnet_extractor import EMBEDDING_SIZE, locate_birdnet
from nightscan_edge.runtime import load_runner
from nightscan_edge.spec import AudioSpec, ImageSpec, spec_from_dict

BYTES_PER_MB = 1024 * 1024
LoadRunner = Callable[..., Any]  # (path, threads=int) -> object with .predict(x), .dynamic_batch


def _path_size_mb(path: Path) -> float:
    size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size
    return size / BYTES_PER_MB


def _example_input(spec: AudioSpec | ImageSpec, samples: Samples | None) -> np.ndarray:
    if samples is not None and len(samples.inputs):
        return np.ascontiguousarray(samples.inputs[0], dtype=np.float32)
    generator = np.random.default_rng(0)
    return generator.standard_normal(spec.input_shape).astype(np.float32) * (0.1 if spec.kind == "audio" else 1.0)


def add_int8_drops(artifacts: list[ArtifactResult]) -> None:
    """For each INT8 file: accuracy and per-class recall drop (points) vs the FP32 file of the same format."""
    fp32 = {a.format: a for a in artifacts if a.precision == "fp32" and a.accuracy is not None}
    for artifact in artifacts:
        reference = fp32.get(artifact.format)
        if artifact.precision != "int8" or reference is None or artifact.accuracy is None:
            continue
        if reference.accuracy is None:  # fp32 holds only scored files
            continue
        artifact.int8_accuracy_drop_points = 100 * (reference.accuracy - artifact.accuracy)
        recalls = artifact.per_class_recall or {}  # set with accuracy
        artifact.int8_class_drop_points = {
            label: 100 * (recall - recalls.get(label, 0.0))
            for label, recall in (reference.per_class_recall or {}).items()
        }


def frozen_backbone_flops(model: torch.nn.Module) -> int:
    """FLOPs of the frozen network in front of a birdnet_head, per window: BirdNET V2.4's graph up to the embedding
    (its spectrogram included, its classifier left out), which every file of such a run also runs. 0 otherwise."""
    if not getattr(model, "takes_embeddings", False):
        return 0
    return graph_flops(locate_birdnet().model.read_bytes()) - 2 * EMBEDDING_SIZE * BIRDNET_V24.classes


def _runner_opener(load_runner: LoadRunner, path: Path) -> Callable[[int], Any]:
    """``threads -> runner`` for one file (its own function, so each file's opener keeps its own path)."""
    return lambda threads: load_runner(path, threads=threads)


def _default_load_runner() -> LoadRunner:
    return load_runner


def benchmark(
    source: BenchSource,
    options: BenchOptions | None = None,
    *,
    progress: bool = True,
    load_runner: LoadRunner | None = None,
    samples: Samples | None = None,
) -> BenchResult:
    """Benchmark an opened source.

    ``load_runner`` defaults to ``nightscan_edge.runtime.load_runner``; ``samples`` (labeled inputs shaped as
    the files take them) replaces loading ``options.data`` or the run's split, e.g. for callers that hold them.
    """
    options = options if options is not None else BenchOptions()

    load_runner = load_runner or _default_load_runner()
    manifest = source.manifest
    labels = list(manifest["labels"])
    spec = spec_from_dict(manifest["input"]["spec"])
    model_name = manifest["model_name"]
    trained = load_trained_model(source.run_dir) if source.run_dir is not None else None
    if trained is not None and trained.labels != labels:
        raise ValueError(
            f"run {source.run_dir} has labels {trained.labels} but its export has {labels}; re-export the run"
        )
    if trained is not None:
        complexity = measure_complexity(trained.model)
        flops_note = "counted on the trained checkpoint"
    else:
        rebuilt = create_model(model_name, len(labels), spec=spec, **manifest.get("model_options", {}))
        complexity = measure_complexity(rebuilt)
        flops_note = "counted on the architecture rebuilt from the manifest (no checkpoint beside the files)"
    frontend_flops = complexity.frontend_flops or frozen_backbone_flops(trained.model if trained else rebuilt)
    total_flops = complexity.flops + frontend_flops

    threads = resolve_threads(options.threads)
    if samples is None:
        samples = load_samples(options, spec, labels, source.run_dir)
    example = _example_input(spec, samples)
    gemm_gflops = {count: measure_gemm_gflops(count) for count in threads}
    runners = len(source.artifacts) + (1 if trained is not None and options.include_eager else 0)
    reporter = RichProgress(runners * (len(threads) + 1)) if progress else NoProgress()
    saved_thresholds = manifest.get("thresholds")  # a multi-label export's, per label
    thresholds = [float(saved_thresholds[label]) for label in labels] if saved_thresholds else None
    bench = FileBench(options, threads, example, gemm_gflops, total_flops, samples, labels, reporter, thresholds)
    results: list[ArtifactResult] = []
    torch_threads = torch.get_num_threads()
    try:
        with reporter:
            if trained is not None and options.include_eager:
                reporter.describe("pytorch eager")
                results.append(
                    bench.measure(
                        "pytorch (eager)",
                        EAGER_FORMAT,
                        "fp32",
                        trained.checkpoint_path,
                        complexity.model_size_mb,
                        lambda t: EagerRunner(trained, t),
                    )
                )
            for artifact in source.artifacts:
                reporter.describe(artifact.name)
                results.append(
                    bench.measure(
                        artifact.name,
                        artifact.format,
                        artifact.precision,
                        artifact.path,
                        _path_size_mb(artifact.path),
                        _runner_opener(load_runner, artifact.path),
                    )
                )
    finally:
        torch.set_num_threads(torch_threads)
    results += [
        ArtifactResult(
            name=f"{failure.format} {failure.precision}",
            format=failure.format,
            precision=failure.precision,
            path=None,
            size_mb=None,
            status="failed",
            error=f"not exported ({failure.status}): {failure.error}",
        )
        for failure in source.export_failures
    ]
    add_int8_drops(results)
    return BenchResult(
        created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        source=source.description,
        model_name=model_name,
        input_kind="audio" if spec.kind == "audio" else "image",
        labels=labels,
        run_id=manifest.get("run_id"),
        model_flops=complexity.flops,
        frontend_flops=frontend_flops,
        flops_note=flops_note,
        threads=threads,
        warmup=options.warmup,
        iterations=options.iterations,
        host=HostInfo(
            cpu=cpu_name(),
            logical_cores=os.cpu_count() or 1,
            usable_cores=usable_cores(),
            platform=platform.platform(),
            torch_version=torch.__version__,
            gemm_gflops=gemm_gflops,
        ),
        evaluation_set=EvaluationSet(source=samples.source, samples=len(samples.labels)) if samples else None,
        artifacts=results,
        device_estimates=[
            DeviceEstimate(
                device=d.name,
                title=d.title,
                sustained_gflops=d.sustained_gflops,
                estimated_ms=d.estimate_ms(total_flops),
                basis=d.basis,
                source=d.source,
            )
            for d in list_device_classes()
        ],
        target=SEED_TARGETS["audio" if spec.kind == "audio" else "image"],
    )


def run_bench(
    path: str | Path,
    options: BenchOptions | None = None,
    *,
    progress: bool = True,
    load_runner: LoadRunner | None = None,
    run_dir: str | Path | None = None,
) -> BenchResult:
    """Open ``path`` (run folder, export folder, bundle.zip or model file) and benchmark it; ``run_dir``
    names the training run when the files live outside it."""
    options = options if options is not None else BenchOptions()
    with open_source(path, run_dir=run_dir) as source:
        return benchmark(source, options, progress=progress, load_runner=load_runner)
