"""``nightscan-edge export RUN --formats onnx,tflite,coreml,executorch [--int8] [--out DIR]``."""

from __future__ import annotations

import argparse
import json


def add_parser(subparsers) -> None:
    from nightscan_edge.export.formats import FORMATS

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


def export_config_for(args: argparse.Namespace):
    """The run's export config with the command-line options on top (None = keep the run's)."""
    from pathlib import Path

    from nightscan_edge.config import ExportConfig, load_config

    run_dir = Path(args.run) if Path(args.run).is_dir() else Path(args.run).parent
    base = load_config(run_dir / "config.yaml").export if (run_dir / "config.yaml").is_file() else ExportConfig()
    changes = {}
    if args.calibration_samples is not None:
        if args.calibration_samples < 1:
            from nightscan_edge.cli import UserError

            raise UserError(f"--calibration-samples must be >= 1; got {args.calibration_samples}")
        changes["calibration_samples"] = args.calibration_samples
    if args.no_temperature:
        changes["calibrate_temperature"] = False
    return base.model_copy(update=changes)


def run(args: argparse.Namespace) -> int:
    from nightscan_edge.cli import UserError
    from nightscan_edge.export import ExportError, export_run

    try:
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
    return 0 if report.ok else 1
