"""``nightscan-edge bench RUN_OR_BUNDLE``: latency, memory, throughput and accuracy of every exported file."""

from __future__ import annotations

import argparse
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nightscan_edge.bench import BenchOptions, BenchResult, BenchSourceError, run_bench, write_reports
from nightscan_edge.bench.sources import EXPORTS_DIR, latest_export_dir
from nightscan_edge.checkpoint import BEST_CHECKPOINT
from nightscan_edge.commands import Subparsers
from nightscan_edge.config import BenchConfig
from nightscan_edge.data.errors import DataError
from nightscan_edge.errors import UserError
from nightscan_edge.quiet import native_noise_filtered


def parse_threads(text: str) -> tuple[int, ...]:
    """``"1,0"`` / ``"1,all"`` / ``"1,4"`` -> thread counts (0 = all usable cores)."""
    counts = []
    for part in text.split(","):
        part = part.strip().lower()
        if part in ("all", "0"):
            counts.append(0)
        elif part.isdigit() and int(part) > 0:
            counts.append(int(part))
        else:
            raise argparse.ArgumentTypeError(
                f"thread counts are positive integers or 'all', comma-separated (e.g. 1,all); got '{text}'"
            )
    return tuple(counts)


def add_bench_options(parser: argparse.ArgumentParser, defaults: BenchConfig, threads_default: str) -> None:
    """Options shared by ``bench`` and ``check``."""
    parser.add_argument(
        "source", nargs="?", help="run folder (its latest export), export folder, bundle.zip or one model file"
    )
    parser.add_argument(
        "--data", type=Path, help="labeled test set (class folders or manifest CSV); default: the run's test/val split"
    )
    parser.add_argument(
        "--run",
        type=Path,
        help="training run of files that live outside it (bundle, export --out): "
        "gives the PyTorch baseline and the held-out split",
    )
    parser.add_argument("--limit", type=int, help="use at most this many labeled samples")
    parser.add_argument(
        "--threads",
        type=parse_threads,
        default=parse_threads(threads_default),
        help=f"comma-separated thread counts, 'all' = every core (default {threads_default})",
    )
    parser.add_argument(
        "--warmup", type=int, default=defaults.warmup, help=f"untimed calls first (default {defaults.warmup})"
    )
    parser.add_argument(
        "--iterations",
        type=int,
        default=defaults.iterations,
        help=f"timed batch-1 calls per thread count (default {defaults.iterations})",
    )
    parser.add_argument(
        "--throughput-batch",
        type=int,
        default=defaults.throughput_batch,
        help=f"batch size for throughput where the file allows it (default {defaults.throughput_batch})",
    )
    parser.add_argument("--no-eager", action="store_true", help="skip the PyTorch eager baseline")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def add_parser(subparsers: Subparsers) -> None:
    defaults = BenchConfig()
    parser = subparsers.add_parser(
        "bench",
        help="benchmark every exported file: size, latency, memory, accuracy",
        description=__doc__.splitlines()[0],
    )
    add_bench_options(parser, defaults, ",".join("all" if t == 0 else str(t) for t in defaults.threads))
    parser.add_argument("--out", type=Path, help="folder for bench.json/.md/.png (default: the export folder)")
    parser.set_defaults(handler=run)


def default_out_dir(source: Path) -> Path:
    """Beside the files when they are a run's export or an export folder; next to a bundle/file otherwise."""
    if source.is_dir() and (source / "manifest.json").is_file():
        return source
    if source.is_dir() and not (source / EXPORTS_DIR).is_dir() and (source / BEST_CHECKPOINT).is_file():
        return source / "bench"  # a server-tier run benchmarked on its own (birdnet_head): no export folder
    if source.is_dir():
        return latest_export_dir(source)
    return source.parent / f"{source.stem}-bench"


def bench_options(args: argparse.Namespace) -> BenchOptions:
    if args.data is not None and not args.data.exists():
        raise FileNotFoundError(f"test set {args.data} not found")
    try:
        return BenchOptions(
            threads=args.threads,
            warmup=args.warmup,
            iterations=args.iterations,
            throughput_batch=args.throughput_batch,
            data=args.data,
            sample_limit=args.limit,
            include_eager=not args.no_eager,
        )
    except ValueError as error:
        raise UserError(str(error)) from None


def run_for_args(args: argparse.Namespace) -> BenchResult:
    """Open the source and benchmark it, turning the bench package's input errors into one-line user errors."""
    if not args.source:
        raise UserError("give a run folder, export folder, bundle.zip or model file to benchmark")
    options = bench_options(args)
    try:
        # With --quiet (the web worker, CI) native runtimes' banners are dropped too; the live progress bar
        # otherwise shares stderr, so nothing is captured while it draws.
        with native_noise_filtered() if args.quiet else nullcontext():
            return run_bench(args.source, options, progress=not args.quiet, run_dir=args.run)
    except (BenchSourceError, DataError) as error:
        raise UserError(str(error)) from None


def print_summary(result: BenchResult, paths: dict[str, Path] | None = None) -> None:
    first = result.threads[0]
    table = Table(title=f"{result.model_name}: measured on this host (p50/p95 at batch 1, {first} thread)")
    table.add_column("file", min_width=max(len(a.name) for a in result.artifacts), no_wrap=True)
    for column in ("format", "precision", "MB", "ms p50", "ms p95", "accuracy", "status"):
        table.add_column(column)
    for artifact in result.artifacts:
        stats = artifact.latency_at(first)
        table.add_row(
            artifact.name,
            artifact.format,
            artifact.precision,
            "–" if artifact.size_mb is None else f"{artifact.size_mb:.2f}",
            "–" if stats is None else f"{stats.p50_ms:.2f}",
            "–" if stats is None else f"{stats.p95_ms:.2f}",
            "–" if artifact.accuracy is None else f"{100 * artifact.accuracy:.1f} %",
            "ok" if artifact.status == "ok" else f"[red]{artifact.error}",
        )
    console = Console()
    console.print(table)
    for kind, path in (paths or {}).items():
        console.print(f"{kind}: {path}")


def run(args: argparse.Namespace) -> int:
    result = run_for_args(args)
    out_dir = args.out or default_out_dir(Path(args.source))
    paths = write_reports(result, out_dir)
    print_summary(result, paths)
    return 0
