"""``nightscan-edge predict``: run an exported model on files, folders and long recordings."""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from nightscan_edge.atomic import finite_json, open_text_atomic, write_json_atomic, write_text_atomic
from nightscan_edge.commands import Subparsers
from nightscan_edge.data.errors import DataError
from nightscan_edge.errors import UserError
from nightscan_edge.predict import ArtifactError, EdgePredictor
from nightscan_edge.predict.classifier import load_edge_classifier
from nightscan_edge.predict.edge_predictor import DEFAULT_NEAR_THRESHOLD
from nightscan_edge.predict.fallback_report import fallback_report, format_report
from nightscan_edge.predict.output import CsvWriter, RavenWriter
from nightscan_edge.spec import AudioSpec

if TYPE_CHECKING:  # the archive extra (Dask, pyarrow) is imported only by --engine dask
    from nightscan_edge.predict.archive import OutputFolder


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "predict",
        help="predict with an exported model (ONNX/LiteRT/ExecuTorch or bundle.zip), optional server fallback",
        description="Preprocessing comes only from the manifest embedded in the artifact. Audio of any length is "
        "streamed in sliding windows; consecutive windows of one label are merged into detections. A multi-label "
        "model reports every class above its threshold, detections overlapping in time.",
    )
    parser.add_argument("artifact", help="exported model file (.onnx, .tflite, .pte) or the export's bundle.zip")
    parser.add_argument("paths", nargs="*", help="audio/photo files or folders")
    parser.add_argument(
        "--threshold",
        type=float,
        default=0.8,
        help="edge confidence below which the server is asked (with --server; default 0.8)",
    )
    parser.add_argument(
        "--near-threshold",
        type=float,
        default=DEFAULT_NEAR_THRESHOLD,
        help="multi-label model with --server: a window goes to the server when any class's score is within this "
        f"of its threshold (default {DEFAULT_NEAR_THRESHOLD:g}; docs/multilabel.md)",
    )
    parser.add_argument("--server", metavar="URL", help="fallback server, e.g. http://127.0.0.1:5002")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the server (default 5)")
    parser.add_argument(
        "--hop-seconds", type=float, default=None, help="window hop; default half a window (50%% overlap)"
    )
    parser.add_argument("--top-k", type=int, default=1, help="labels listed per detection (default 1)")
    parser.add_argument("--threads", type=int, default=None, help="runtime threads (default: runtime's choice)")
    parser.add_argument(
        "--out",
        metavar="CSV|FOLDER",
        help="write detections here (default: print to stdout); with --engine dask: the output "
        "folder (Parquet by site/date, summaries; required)",
    )
    parser.add_argument("--raven", metavar="FILE", help="also write a Raven selection table (audio)")
    archive = parser.add_argument_group("archives (--engine dask; needs the archive extra, see docs/archive.md)")
    archive.add_argument(
        "--engine",
        choices=("local", "dask"),
        default="local",
        help="local: one process, CSV to --out (default); dask: a resumable archive run on Dask workers",
    )
    where = archive.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=None, help="local Dask worker processes (default: CPUs, at most 4)"
    )
    where.add_argument("--scheduler", metavar="ADDRESS", help="use a running Dask scheduler, e.g. tcp://10.0.0.5:8786")
    archive.add_argument("--worker-threads", type=int, default=1, help="threads per local worker (default 1)")
    archive.add_argument(
        "--scheduler-timeout", type=float, default=10.0, help="seconds to wait for --scheduler to answer (default 10)"
    )
    archive.add_argument(
        "--span-minutes",
        type=float,
        default=10.0,
        help="long recordings are split into spans of about this length, one task each (default 10)",
    )
    archive.add_argument(
        "--csv", action="store_true", help="also write OUT/detections.csv (the columns of the local CSV)"
    )
    archive.add_argument(
        "--overwrite", action="store_true", help="replace the results of another artifact in --out (default: refuse)"
    )
    archive.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--fallback-report",
        metavar="SERVER_RUN",
        help="instead of predicting: measure edge-only vs edge+server accuracy against this run's "
        "server model on labeled data (--data, default the run's validation split)",
    )
    parser.add_argument("--data", help="labeled folder or manifest CSV for --fallback-report")
    parser.add_argument(
        "--split",
        choices=("val", "test"),
        default=None,
        help="--fallback-report without --data: the run's split to use (default test when it has one)",
    )
    parser.add_argument("--limit", type=int, default=None, help="--fallback-report: at most this many samples")
    parser.add_argument("--report-out", metavar="JSON", help="--fallback-report: also write the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if args.fallback_report:
        return _fallback_report(args)
    if not args.paths:
        raise UserError("give at least one file or folder to predict on (or --fallback-report SERVER_RUN)")
    if args.engine == "dask":
        return _archive(args)
    if args.workers is not None or args.scheduler or args.csv or args.overwrite:
        raise UserError("--workers, --scheduler, --csv and --overwrite go with --engine dask")
    for flag, value in (("--out", args.out), ("--raven", args.raven)):
        if value and Path(value).is_dir():
            raise UserError(f"{flag} {value} is a folder; give a file name, e.g. {Path(value) / 'detections.csv'}")
    try:
        predictor = EdgePredictor(
            args.artifact,
            server_url=args.server,
            threshold=args.threshold,
            timeout_s=args.timeout,
            hop_seconds=args.hop_seconds,
            top_k=args.top_k,
            threads=args.threads,
            near_threshold=args.near_threshold,
        )
    except (ArtifactError, ValueError) as error:
        raise UserError(str(error)) from error
    spec = predictor.classifier.spec
    files = errors = sent = failed = 0
    with contextlib.ExitStack() as stack:
        stack.enter_context(predictor)
        # written through a temporary file: a batch that dies part-way never leaves half a CSV behind
        handle = stack.enter_context(open_text_atomic(args.out)) if args.out else sys.stdout
        csv_writer = CsvWriter(handle)
        raven_writer = None
        if args.raven and spec.kind == "audio":
            raven_handle = stack.enter_context(open_text_atomic(args.raven))
            raven_writer = RavenWriter(raven_handle, spec.f_min, spec.f_max or spec.sample_rate / 2)
        for result in predictor.predict_files(args.paths):
            files += 1
            errors += bool(result.error)
            sent += result.sent_to_server
            failed += result.fallback_failed
            csv_writer.write(result)
            if raven_writer is not None:
                raven_writer.write(result)
            if result.error:
                print(f"error: {result.error}", file=sys.stderr)
    if files == 0:
        raise UserError(f"no {spec.kind} files found in {', '.join(args.paths)}")
    summary = f"{files} files, {errors} with errors"
    if args.server:
        summary += f"; {sent} inputs sent to the server, {failed} kept from the edge (fallback_failed)"
    if args.raven and spec.kind != "audio":
        summary += "; --raven skipped (photo model)"
    print(summary + (f"; wrote {args.out}" if args.out else ""), file=sys.stderr)
    return 1 if errors == files else 0


def _archive(args: argparse.Namespace) -> int:
    """``--engine dask``: the archive engine, then summaries and the tables asked for (docs/archive.md)."""
    # deferred: needs the archive extra (Dask, pyarrow); the CLI must start without it
    from nightscan_edge.predict.archive import ArchiveOptions, OutputFolder, run_archive, write_summaries
    from nightscan_edge.predict.archive.recording_time import TIME_RULE

    if not args.out:
        raise UserError("--engine dask writes a folder: give it with --out FOLDER")
    options = ArchiveOptions(
        artifact=Path(args.artifact),
        paths=[Path(p) for p in args.paths],
        out=Path(args.out),
        workers=args.workers,
        worker_threads=args.worker_threads,
        runtime_threads=args.threads or 1,
        scheduler=args.scheduler,
        scheduler_timeout_s=args.scheduler_timeout,
        hop_seconds=args.hop_seconds,
        top_k=args.top_k,
        server=args.server,
        threshold=args.threshold,
        near_threshold=args.near_threshold,
        server_timeout_s=args.timeout,
        span_minutes=args.span_minutes,
        overwrite=args.overwrite,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    report = run_archive(options)
    folder = OutputFolder(options.out)
    classifier = load_edge_classifier(options.artifact, threads=1)
    spec = classifier.spec
    written = write_summaries(folder, classifier.labels)
    if args.csv:
        written.append(_write_table(folder.root / "detections.csv", lambda handle: CsvWriter(handle), folder))
    if args.raven:
        if not isinstance(spec, AudioSpec):
            raise UserError(f"--raven writes audio selection tables; {options.artifact} is not an audio model")
        written.append(
            _write_table(
                Path(args.raven),
                lambda handle: RavenWriter(handle, spec.f_min, spec.f_max or spec.sample_rate / 2),
                folder,
            )
        )
    for message in report.error_messages:
        print(f"error: {message}", file=sys.stderr)
    print(
        f"{report.files} files: {report.processed} predicted ({report.errors} with errors), {report.skipped} already "
        f"done; {report.audio_hours:.2f} audio hours in {report.wall_seconds:.1f} s "
        f"({report.audio_hours_per_second * 3600:.0f}x real time) on {report.workers} workers; "
        f"results in {folder.root}",
        file=sys.stderr,
    )
    print(f"recording times: {TIME_RULE}; wrote {', '.join(str(p) for p in written)}", file=sys.stderr)
    return 1 if report.processed and report.errors == report.processed else 0


def _write_table(path: Path, make_writer: Callable[[TextIO], CsvWriter | RavenWriter], folder: OutputFolder) -> Path:
    """CSV/Raven from the Parquet results (all recordings, done now or before), written atomically."""
    buffer = io.StringIO()
    writer = make_writer(buffer)
    for prediction in folder.predictions():
        writer.write(prediction)
    return write_text_atomic(path, buffer.getvalue())


def _fallback_report(args: argparse.Namespace) -> int:
    try:
        report = fallback_report(
            args.artifact,
            args.fallback_report,
            data_path=args.data,
            limit=args.limit,
            threads=args.threads,
            split=args.split,
        )
    except (ArtifactError, DataError, ValueError) as error:
        raise UserError(str(error)) from error
    print(format_report(report))
    if args.report_out:
        write_json_atomic(args.report_out, finite_json(report))
    return 0
