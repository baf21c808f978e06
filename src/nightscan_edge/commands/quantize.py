"""``nightscan-edge quantize-all RUNS_DIR``: the seed's ``ModelQuantizationPipeline`` on every trained run."""

from __future__ import annotations

import argparse
import json

from nightscan_edge.commands import Subparsers
from nightscan_edge.errors import UserError
from nightscan_edge.export import ExportError, ModelQuantizationPipeline


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("quantize-all", help="export + INT8-quantize every trained run under a folder")
    parser.add_argument("runs_dir", nargs="?", default="runs", help="folder of run folders (default runs)")
    parser.add_argument("--formats", default="onnx,tflite", help="comma-separated export formats (default onnx,tflite)")
    parser.add_argument("--json", action="store_true", help="print the per-run results as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        pipeline = ModelQuantizationPipeline(
            args.runs_dir,
            formats=args.formats.split(","),
            int8=True,
            progress=None if args.json else (lambda m: print(m, flush=True)),
        )
        results = pipeline.quantize_all_models()
    except ExportError as error:
        raise UserError(str(error)) from None
    if not results:
        raise UserError(f"no trained runs (folders with best.ckpt) under {args.runs_dir}")
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for run_id, result in results.items():
            if "error" in result:
                print(f"{run_id}: FAILED {result['error']}")
                continue
            cells = [
                f"{fmt}/{precision}: {item['status']}"
                for fmt, by_precision in result["formats"].items()
                for precision, item in by_precision.items()
            ]
            print(f"{run_id}: " + ", ".join(cells))
    return 0 if all(r.get("ok") for r in results.values()) else 1
