"""Views of a ``BenchResult``: ``bench.json``, ``bench.md`` (the table that says which file to ship) and
``bench.png`` (latency vs accuracy, one point per file). Device estimates get their own section, titled
as estimates, never a column next to measurements.
"""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.atomic import write_text_atomic
from nightscan_edge.bench.result import ArtifactResult, BenchResult
from nightscan_edge.bench.targets import target_verdict

JSON_NAME, MARKDOWN_NAME, PLOT_NAME = "bench.json", "bench.md", "bench.png"


def _ms(value: float | None) -> str:
    return "–" if value is None else (f"{value:.2f}" if value < 10 else f"{value:.1f}")


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _mark(ok: bool | None) -> str:
    return "–" if ok is None else ("✓" if ok else "✗")


def _range(bounds: tuple[float, float], unit: str) -> str:
    return f"{bounds[0]:g}–{bounds[1]:g} {unit}"


def _measured_table(result: BenchResult) -> list[str]:
    threads = result.threads
    multilabel = any(artifact.map is not None for artifact in result.artifacts)
    header = ["file", "format", "precision", "MB"]
    for count in threads:
        header += [f"ms p50 ({count} thr)", f"ms p95 ({count} thr)"]
    header += [
        f"max ms ({threads[0]} thr)",
        f"samples/s @batch ({threads[-1]} thr)",
        "peak MB",
        "accuracy",
        "macro-F1",
        *(["mAP"] if multilabel else []),
        "vs target ms / MB / acc",
        f"measured/ideal ({threads[0]} thr)",
    ]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for artifact in result.artifacts:
        if artifact.status != "ok":
            continue
        row = [
            f"`{artifact.name}`",
            artifact.format,
            artifact.precision,
            "–" if artifact.size_mb is None else f"{artifact.size_mb:.2f}",
        ]
        for count in threads:
            stats = artifact.latency_at(count)
            row += [_ms(None if stats is None else stats.p50_ms), _ms(None if stats is None else stats.p95_ms)]
        first, last = artifact.latency_at(threads[0]), artifact.latency_at(threads[-1])
        throughput = "–"
        if last is not None and last.throughput_per_s is not None:
            throughput = f"{last.throughput_per_s:.0f} @{last.throughput_batch}"
        elif artifact.dynamic_batch is False:
            throughput = "fixed batch 1"
        verdict = target_verdict(artifact, result.target, threads[0])
        ratio = "–" if first is None or first.measured_over_ideal is None else f"{first.measured_over_ideal:.1f}×"
        row += [
            _ms(None if first is None else first.max_ms),
            throughput,
            "–" if artifact.peak_memory_mb is None else f"{artifact.peak_memory_mb:.1f}",
            _pct(artifact.accuracy),
            _pct(artifact.macro_f1),
            *([_pct(artifact.map)] if multilabel else []),
            " / ".join(_mark(verdict[key]) for key in ("latency", "size", "accuracy")),
            ratio,
        ]
        lines.append("| " + " | ".join(row) + " |")
    return lines


def _int8_table(result: BenchResult) -> list[str]:
    rows = [a for a in result.artifacts if a.int8_accuracy_drop_points is not None]
    if not rows:
        return []
    lines = [
        "",
        "## INT8 vs FP32 (same format, same samples)",
        "",
        "| file | accuracy drop (points) | worst class | its recall drop (points) |",
        "|---|---|---|---|",
    ]
    for artifact in rows:
        drops = artifact.int8_class_drop_points or {}
        worst = max(drops, key=lambda name: drops[name]) if drops else None
        lines.append(
            f"| `{artifact.name}` | {artifact.int8_accuracy_drop_points:+.1f} | {worst or '–'} | "
            f"{'–' if worst is None else f'{drops[worst]:+.1f}'} |"
        )
    return lines


def _failures(result: BenchResult) -> list[str]:
    failed = [a for a in result.artifacts if a.status != "ok"]
    if not failed:
        return []
    return ["", "## Not measured", ""] + [
        f"- `{a.name}` ({a.format} {a.precision}{'' if a.size_mb is None else f', {a.size_mb:.2f} MB'}): {a.error}"
        for a in failed
    ]


def _estimates(result: BenchResult) -> list[str]:
    lines = [
        "",
        "## Device estimates (ESTIMATE — not measured)",
        "",
        f"Estimated latency = {result.total_flops / 1e6:.1f} MFLOPs per inference ÷ the device class's "
        "sustained FP32 GFLOPS derived from the cited measurement. It ignores INT8 speed-ups, memory "
        "bandwidth and runtime differences; measure on the device before promising a figure.",
        "",
        "| device class | sustained GFLOPS | estimated ms (FP32) | basis | source |",
        "|---|---|---|---|---|",
    ]
    for estimate in result.device_estimates:
        lines.append(
            f"| {estimate.title} | {estimate.sustained_gflops:.1f} | ~{_ms(estimate.estimated_ms)} (estimate) | "
            f"{estimate.basis} | {estimate.source} |"
        )
    return lines


def render_markdown(result: BenchResult) -> str:
    target = result.target
    host = result.host
    peaks = ", ".join(
        f"{gflops:.1f} GFLOPS at {threads} thread{'s' if threads > 1 else ''}"
        for threads, gflops in result.host.gemm_gflops.items()
    )
    evaluation = (
        f"{result.evaluation_set.samples} labeled samples from {result.evaluation_set.source}"
        if result.evaluation_set
        else "none (pass --data TEST_SET for accuracy)"
    )
    lines = [
        f"# Benchmark: {result.model_name} ({result.input_kind})",
        "",
        f"- source: {result.source}; run id: {result.run_id or '–'}; created {result.created}",
        f"- host: {host.cpu}, {host.usable_cores} usable of {host.logical_cores} logical cores, {host.platform}, "
        f"torch {host.torch_version}",
        f"- FP32 GEMM peak measured in this run: {peaks}",
        f"- work per inference: {result.model_flops / 1e6:.1f} MFLOPs network"
        + (f" + {result.frontend_flops / 1e6:.1f} MFLOPs {_front_end(result)}" if result.frontend_flops else "")
        + f" ({result.flops_note}); latency is batch 1, {result.warmup} warm-up + {result.iterations} timed calls"
        + (", raw waveform → probabilities" if result.input_kind == "audio" else ", normalised image → probabilities"),
        f"- accuracy on: {evaluation}",
        f"- seed targets ({result.input_kind}): {_range(target.latency_ms, 'ms')}, {_range(target.size_mb, 'MB')}, "
        f"{_range(target.accuracy_pct, '%')} accuracy; ✓ = latency (p50, {result.threads[0]} thread) and size at or "
        "below the high end, accuracy at or above the low end",
        "- measured/ideal = p50 ÷ (FLOPs ÷ GEMM peak): how far from compute-bound on this host",
        "",
        "## Measured on this host",
        "",
        *_measured_table(result),
        *_int8_table(result),
        *_failures(result),
        *_estimates(result),
        "",
    ]
    return "\n".join(lines)


def _plot_point(artifact: ArtifactResult, threads: int) -> tuple[float, float | None] | None:
    stats = artifact.latency_at(threads)
    if artifact.status != "ok" or stats is None:
        return None
    return stats.p50_ms, artifact.accuracy


def write_plot(result: BenchResult, path: Path) -> Path:
    """Latency (p50, first thread count) vs accuracy; size in MB on the y axis when accuracy is unknown."""
    # pyplot only after choosing the file backend (no display on servers and workers)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    threads = result.threads[0]
    points = [(a, p) for a in result.artifacts if (p := _plot_point(a, threads)) is not None]
    with_accuracy = any(p[1] is not None for _, p in points)
    figure, axes = plt.subplots(figsize=(7, 4.5))
    target = result.target
    if with_accuracy:
        axes.axvspan(0, target.latency_ms[1], ymin=0, ymax=1, color="tab:green", alpha=0.06)
        axes.axhline(
            target.accuracy_pct[0],
            color="tab:green",
            linestyle="--",
            linewidth=1,
            label=f"seed target ≥ {target.accuracy_pct[0]:g} %, ≤ {target.latency_ms[1]:g} ms",
        )
    for artifact, (latency, accuracy) in points:
        y = 100 * accuracy if with_accuracy and accuracy is not None else artifact.size_mb
        if y is None:
            continue
        marker = "s" if artifact.is_baseline else ("^" if artifact.precision == "int8" else "o")
        axes.scatter([latency], [y], marker=marker, s=50)
        axes.annotate(artifact.name, (latency, y), textcoords="offset points", xytext=(5, 4), fontsize=8)
    axes.set_xscale("log")
    plain = matplotlib.ticker.FuncFormatter(lambda value, _: f"{value:g}")
    axes.xaxis.set_major_formatter(plain)
    axes.xaxis.set_minor_formatter(plain)
    if with_accuracy:
        axes.set_ylim(0, 100)
    axes.set_xlabel(f"latency p50 at batch 1, {threads} thread{'s' if threads > 1 else ''} (ms, log scale)")
    axes.set_ylabel("accuracy (%)" if with_accuracy else "file size (MB)")
    axes.set_title(f"{result.model_name}: latency vs {'accuracy' if with_accuracy else 'size'} (measured on this host)")
    if with_accuracy:
        axes.legend(loc="best", fontsize=8)
    axes.grid(alpha=0.3, which="both")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def write_reports(result: BenchResult, out_dir: str | Path) -> dict[str, Path]:
    """Write bench.json, bench.md and bench.png into ``out_dir``; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / JSON_NAME, "markdown": out_dir / MARKDOWN_NAME, "plot": out_dir / PLOT_NAME}
    write_text_atomic(paths["json"], result.to_json())
    write_text_atomic(paths["markdown"], render_markdown(result))
    write_plot(result, paths["plot"])
    return paths


def _front_end(result: BenchResult) -> str:
    """What runs before the network: the log-mel front-end, or BirdNET's graph in front of a birdnet_head."""
    return (
        "frozen BirdNET V2.4 (its spectrogram included)" if result.model_name == "birdnet_head" else "log-mel front-end"
    )
