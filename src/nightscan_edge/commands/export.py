"""``nightscan-edge export RUN --formats onnx,tflite,coreml,executorch [--int8] [--out DIR]``.

Exit codes say what failed: 0 every requested file is usable; 1 an FP32 file failed, or INT8 was asked for
and the quality gate rejected every INT8 file, or the run's data is no longer where it was trained from
(parity, calibration and the INT8 gate then ran on generated inputs, which prove nothing about accuracy;
the message names the missing path); 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from nightscan_edge.artifact import FORMATS
from nightscan_edge.commands import Subparsers
from nightscan_edge.config import ExportConfig
from nightscan_edge.errors import UserError
from nightscan_edge.export import ExportError, export_run
from nightscan_edge.export.report import ExportReport
from nightscan_edge.quiet import native_noise_filtered
from nightscan_edge.run_folder import RunFolder


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "export", help="export a trained run (manifest inside, parity measured, optional INT8 + bundle.zip)"
    )
    parser.add_argument("run", help="run folder (runs/<run_id>) or a checkpoint inside it")
    parser.add_argument(
        "--formats",
        default=None,
        help=f"comma-separated, from: {', '.join(FORMATS)} (default: the run's export.formats)",
    )
    parser.add_argument(
        "--int8", action="store_true", default=None, help="also write INT8 artifacts, each checked by the quality gate"
    )
    parser.add_argument("--out", default=None, help="output folder (default runs/<run>/exports/<export_id>/)")
    parser.add_argument("--calibration-samples", type=int, default=None, help="training inputs for INT8 calibration")
    parser.add_argument("--no-temperature", action="store_true", help="do not fit temperature scaling")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def export_config_for(args: argparse.Namespace) -> ExportConfig:
    """The run's export config with the command-line options on top (None = keep the run's)."""
    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
    run = RunFolder(run_dir)
    base = run.read_config().export if run.config.is_file() else ExportConfig()
    changes: dict[str, Any] = {}
    if args.calibration_samples is not None:
        if args.calibration_samples < 1:
            raise UserError(f"--calibration-samples must be >= 1; got {args.calibration_samples}")
        changes["calibration_samples"] = args.calibration_samples
    if args.no_temperature:
        changes["calibrate_temperature"] = False
    return base.model_copy(update=changes)


def outcome_problems(report: ExportReport, data_path: str | None) -> list[str]:
    """Why an export that produced files still did not give the user what they asked for (empty = fine)."""
    problems = []
    int8 = [a for a in report.artifacts if a.precision == "int8"]
    if int8 and not any(a.ok for a in int8):
        problems.append(
            f"every INT8 file was rejected ({', '.join(a.format for a in int8)}); ship the FP32 files, "
            "or train longer / with more data and export again"
        )
    if report.samples.startswith("generated"):
        where = f"{data_path} is gone" if data_path else "the run's data could not be read"
        problems.append(
            f"{where}: parity, calibration and the INT8 gate used generated inputs, not your recordings; "
            "put the data back at that path and export again"
        )
    return problems


def _run_data_path(run: str) -> str | None:
    run_dir = Path(run) if Path(run).is_dir() else Path(run).parent
    try:
        return str(RunFolder(run_dir).read_config().data.path)
    except Exception:  # an old or hand-made run folder: the message falls back to a generic wording
        return None


def run(args: argparse.Namespace) -> int:
    try:
        with native_noise_filtered():
            report = export_run(
                args.run,
                formats=args.formats.split(",") if args.formats else None,
                int8=args.int8,
                out_dir=args.out,
                config=export_config_for(args),
                progress=None if args.json else (lambda message: print(message, flush=True)),
            )
    except ExportError as error:
        raise UserError(str(error)) from None
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    else:
        print("\n".join(report.summary_lines()))
    problems = outcome_problems(report, _run_data_path(args.run))
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return 0 if report.ok and not problems else 1
