"""``nightscan-edge models``: the model registry with complexity figures."""

from __future__ import annotations

import argparse
import json

from rich import box
from rich.console import Console
from rich.table import Table

from nightscan_edge.commands import Subparsers
from nightscan_edge.models.catalogue import catalogue


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("models", help="list registered models with params, size, FLOPs")
    parser.add_argument("--num-classes", type=int, default=6, help="classes to size the head for (default 6)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(handler=run)


def _count(value: int) -> str:
    return f"{value / 1e6:.1f} M" if value >= 1e6 else f"{value / 1e3:.0f} k"


def run(args: argparse.Namespace) -> int:
    rows = catalogue(args.num_classes)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    # Fits 80 columns (a pipe, a narrow terminal): names never wrap, headers take two lines, and the reasons
    # a model is not for phones go below the table instead of stretching a column.
    table = Table(
        title=f"NightScan Edge models ({args.num_classes} classes)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
        padding=0,
        show_edge=False,
    )
    table.add_column("model", no_wrap=True, min_width=max((len(row["name"]) for row in rows), default=5))
    for column in ("input", "tier"):
        table.add_column(column, no_wrap=True)
    for column in ("params", "FP32\nMB", "INT8\nMB", "budget\nMB", "MFLOPs"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("mobile", no_wrap=True)
    notes = []
    for row in rows:
        mobile = "yes"
        if not row["mobile_compatible"]:
            notes.append(f"{row['name']}: " + "; ".join(row["mobile_issues"]))
            mobile = "no"
        table.add_row(
            row["name"],
            row["input_kind"],
            row["tier"],
            _count(row["params"]),
            f"{row['model_size_mb']:.2f}",
            f"{row['int8_size_mb']:.2f}",
            f"< {row['budget_mb']:g}",
            f"{row['flops'] / 1e6:.1f}",
            mobile,
        )
    console = Console()
    console.print(table)
    for note in notes:
        console.print(f"not for phones: {note}")
    for row in rows:
        if row["licence"]:  # None: the project's own Apache-2.0 weights
            console.print(f"licence: {row['name']} weights are {row['licence']}; models trained on them inherit it")
    return 0
