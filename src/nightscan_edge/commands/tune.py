"""``nightscan-edge tune``: search a family's space for the most accurate model within a budget (Optuna).

Thin: parses, calls ``nightscan_edge.tune.run_study``, prints one line per trial and the winner.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nightscan_edge.commands import Subparsers
from nightscan_edge.errors import UserError


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "tune",
        help="search widths, mel bands, image size, lr... for the most accurate model within a budget (Optuna)",
        description="Each trial is an ordinary run folder, stopped early by a pruner on its per-epoch macro-F1; "
        "surviving trials are exported, INT8-gated and benched in their runtime at 1 thread. Results (Pareto "
        "table, plot, winner) go to the study folder. Needs the tune extra: pip install 'nightscan-edge[tune]'.",
    )
    parser.add_argument("--data", required=True, help="class-per-folder tree or manifest CSV")
    parser.add_argument("--model", required=True, help="model family to tune (see `nightscan-edge models`)")
    parser.add_argument("--budget", type=Path, required=True, help="YAML budget (see budgets/*.yaml, docs/tune.md)")
    count = parser.add_mutually_exclusive_group()
    count.add_argument("--trials", type=int, help="trials in the study, counting those already run (default 20)")
    count.add_argument("--hours", type=float, help="run trials until this many hours have passed")
    parser.add_argument("--teacher", type=Path, metavar="RUN", help="distil from this run; adds distill_alpha")
    parser.add_argument(
        "--storage",
        metavar="URL",
        help="Optuna storage: a SQLAlchemy URL (postgresql://...) or a .journal file shared by several machines "
        "(default: sqlite in the study folder)",
    )
    parser.add_argument("--study", metavar="NAME", help="study name (default MODEL-BUDGET); the same name resumes")
    parser.add_argument("--workers", type=int, default=1, help="trials at once, on local Dask workers (default 1)")
    parser.add_argument("--out", type=Path, metavar="DIR", help="study folder (default studies/NAME)")
    parser.add_argument("--space", type=Path, metavar="YAML", help="narrow the family's search space (docs/tune.md)")
    parser.add_argument("--epochs", type=int, default=3, help="training epochs per trial (default 3)")
    parser.add_argument(
        "--formats",
        help="comma-separated formats to export and measure (default: the budget's formats, else tflite)",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a config value for every trial, e.g. --set train.batch_size=32 (repeatable)",
    )
    parser.add_argument(
        "--confirm",
        type=int,
        default=0,
        metavar="K",
        help="re-train the K most accurate trials within the budget on more seeds and name the winner by its mean "
        "macro-F1 (default 0: off; a single seed's luck can move macro-F1 by points on a few hundred clips)",
    )
    parser.add_argument(
        "--confirm-seeds", type=int, default=2, metavar="S", help="extra seeds per confirmed trial (default 2)"
    )
    parser.add_argument("--no-pruner", action="store_true", help="run every trial to its last epoch")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed (default 0)")
    parser.add_argument("--progress", action="store_true", help="show each trial's training progress bar")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        # deferred: needs the tune extra (Optuna); the CLI must start without it
        from nightscan_edge.tune import TuneOptions, run_study
    except ImportError as error:
        raise UserError(str(error)) from None
    options = TuneOptions(
        data=Path(args.data),
        model=args.model,
        budget=args.budget,
        trials=args.trials,
        hours=args.hours,
        teacher=args.teacher,
        storage=args.storage,
        study=args.study,
        workers=args.workers,
        out=args.out,
        space=args.space,
        epochs=args.epochs,
        overrides=tuple(args.set),
        formats=tuple(f.strip() for f in args.formats.split(",")) if args.formats else None,
        epoch_pruner=not args.no_pruner,
        seed=args.seed,
        progress=args.progress,
        confirm=args.confirm,
        confirm_seeds=args.confirm_seeds,
    )
    result = run_study(options)
    measured = [row for row in result.rows if row.macro_f1 is not None]
    print(f"study {result.study}: {len(result.rows)} trial(s), {len(measured)} measured -> {result.folder}")
    if result.winner is None:
        print("no trial within the budget yet; see pareto.md for how far each one is")
        return 1
    best = result.winner
    print(
        f"winner: trial {best.trial}, macro-F1 {best.macro_f1:.3f}, {best.latency_p50_ms:.2f} ms, "
        f"{best.size_mb:.3f} MB -> {best.export_dir}"
    )
    confirmed = result.winner_confirmation
    if confirmed is not None:
        per_seed = ", ".join(f"{v:.3f}" for v in confirmed["macro_f1"])
        print(f"confirmed on seeds {confirmed['seeds']}: macro-F1 {per_seed} (mean {confirmed['mean_macro_f1']:.3f})")
    elif result.confirmations:
        print("no confirmed candidate held the budget on every seed: the winner above is one seed's figure")
    return 0
