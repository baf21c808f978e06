"""``nightscan-edge models``: the model registry with complexity figures."""

from __future__ import annotations

import argparse
import json

from rich.console import Console
from rich.table import Table


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser("models", help="list registered models with params, size, FLOPs")
    parser.add_argument("--num-classes", type=int, default=6, help="classes to size the head for (default 6)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


PROJECT_LICENCE = "Apache-2.0"


def catalogue(num_classes: int = 6) -> list[dict]:
    """One row per registered model: registry facts + measured complexity (shared with the web catalogue)."""
    from nightscan_edge.models import create_model, list_models, measure_complexity

    rows = []
    for entry in list_models():
        model = create_model(entry.name, num_classes)
        complexity = measure_complexity(model)
        rows.append(
            {
                "name": entry.name,
                "input_kind": entry.input_kind,
                "tier": entry.tier,
                "budget_mb": entry.budget_mb,
                "description": entry.description,
                # Licence of pretrained weights the family carries; the project's own models are Apache-2.0.
                "licence": entry.licence or PROJECT_LICENCE,
                "input_shape": list(model.spec.input_shape),
                **complexity.as_dict(),
            }
        )
    return rows


def run(args: argparse.Namespace) -> int:
    rows = catalogue(args.num_classes)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    table = Table(title=f"NightScan Edge models ({args.num_classes} classes)")
    columns = ("model", "input", "tier", "params", "FP32 MB", "INT8 MB", "budget MB", "MFLOPs", "licence", "mobile")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(
            row["name"],
            row["input_kind"],
            row["tier"],
            f"{row['params']:,}",
            f"{row['model_size_mb']:.2f}",
            f"{row['int8_size_mb']:.2f}",
            f"< {row['budget_mb']:g}",
            f"{row['flops'] / 1e6:.1f}",
            row["licence"].split(" (")[0],
            "yes" if row["mobile_compatible"] else "no: " + "; ".join(row["mobile_issues"]),
        )
    console = Console()
    console.print(table)
    for row in rows:
        if row["licence"] != PROJECT_LICENCE:
            console.print(f"{row['name']}: weights licensed {row['licence']}; models trained on it inherit the licence")
    return 0
