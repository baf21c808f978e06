"""``nightscan-edge check RUN_OR_BUNDLE --budget budget.yaml``: the release gate for CI.

Exit 0 when every gated file is within the budget, 1 with a table of violations otherwise, 2 for a
bad budget file or input. The gated files are those of the budget's ``formats`` (else its
``require_formats``, else all): a format the budget does not ask for is listed but never fails the gate.
Latency limits are at 1 thread, so the benchmark runs with 1 thread unless ``--from-bench`` reuses a
``bench.json`` written by ``nightscan-edge bench``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table

from nightscan_edge.bench import BenchResult, BudgetError, check_budget, load_budget, write_reports
from nightscan_edge.bench.budget import gated_formats
from nightscan_edge.commands import Subparsers
from nightscan_edge.commands.bench import add_bench_options, run_for_args
from nightscan_edge.config import BenchConfig
from nightscan_edge.errors import UserError


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "check",
        help="gate a release: exit 1 if any exported file breaks budget.yaml",
        description=__doc__.splitlines()[0],
    )
    add_bench_options(parser, BenchConfig(), "1")
    parser.add_argument("--budget", type=Path, required=True, help="YAML budget (see budgets/*.yaml)")
    parser.add_argument("--from-bench", type=Path, help="check this bench.json instead of benchmarking again")
    parser.add_argument("--out", type=Path, help="also write bench.json/.md/.png of the run here")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        budget = load_budget(args.budget)  # before any benchmarking: a bad file fails in a second
    except BudgetError as error:
        raise UserError(str(error)) from None
    if args.from_bench is not None:
        if not args.from_bench.is_file():
            raise FileNotFoundError(f"bench result {args.from_bench} not found; run `nightscan-edge bench` first")
        try:
            result = BenchResult.read(args.from_bench)
        except ValueError as error:
            raise UserError(
                f"{args.from_bench} is not a bench.json written by this version ({str(error).splitlines()[0]})"
            ) from None
    else:
        result = run_for_args(args)
    if args.out is not None:
        write_reports(result, args.out)
    violations = check_budget(result, budget)
    console = Console()
    formats = gated_formats(budget)
    others = [a for a in result.artifacts if not a.is_baseline and formats is not None and a.format not in formats]
    checked = [a for a in result.artifacts if not a.is_baseline and a not in others]
    if others and formats is not None:  # others is empty when the budget gates every format
        console.print(f"not gated (the budget covers {', '.join(formats)}): {', '.join(a.name for a in others)}")
    for artifact in checked:
        if artifact.status == "unavailable":
            console.print(f"[yellow]not run here[/]: {artifact.name} ({artifact.error}); only its size was checked")
    if not violations:
        console.print(
            f"[green]within budget[/]: {len(checked)} file(s) of {result.model_name} checked against {args.budget}"
        )
        return 0
    table = Table(title=f"{len(violations)} budget violation(s): {result.model_name} vs {args.budget}")
    for column in ("file", "check", "limit", "measured"):
        table.add_column(column)
    for violation in violations:
        table.add_row(violation.artifact, violation.check, violation.limit, violation.measured)
    console.print(table)
    return 1
