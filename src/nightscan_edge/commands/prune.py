"""``nightscan-edge prune RUN``: structured channel pruning of a trained run, then a short fine-tune."""

from __future__ import annotations

import argparse

from nightscan_edge.commands import Subparsers
from nightscan_edge.errors import UserError
from nightscan_edge.prune.channels import PruningTargetError
from nightscan_edge.prune.run import prune_run


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser(
        "prune",
        help="shrink a trained run by structured channel pruning (torch-pruning) and fine-tune it",
        description="Remove whole channels until the MACs and/or size target holds, fine-tune with the run's own "
        "data, split and config, and write a new run folder beside the parent (exports like any run).",
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder of the trained model to prune")
    parser.add_argument(
        "--target-macs",
        type=float,
        default=None,
        metavar="FRACTION",
        help="fraction of the MACs to keep, e.g. 0.5 (default 0.5 when no size target is given)",
    )
    parser.add_argument(
        "--target-size-mb",
        type=float,
        default=None,
        metavar="MB",
        help="prune until the FP32 size is at most this many MB",
    )
    parser.add_argument(
        "--finetune-epochs",
        type=int,
        default=5,
        help="fine-tuning epochs after pruning (default 5; 0 = keep the pruned weights as they are)",
    )
    parser.add_argument(
        "--finetune-lr",
        type=float,
        default=None,
        help="fine-tuning learning rate (default: a third of the run's, cosine-decayed)",
    )
    parser.add_argument("--run-name", help="name of the new run folder (default PARENT-pruned-macs50)")
    parser.add_argument(
        "--round-to",
        type=int,
        default=None,
        metavar="N",
        help="keep channel counts multiples of N (e.g. 8 for SIMD-friendly widths)",
    )
    parser.add_argument(
        "--no-self-distill",
        action="store_true",
        help="fine-tune on labels only; by default a run without a teacher is fine-tuned against "
        "its own unpruned model (a distilled run always keeps its teacher)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar during fine-tuning")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    target_macs = args.target_macs if (args.target_macs is not None or args.target_size_mb is not None) else 0.5
    if args.round_to is not None and args.round_to < 1:
        raise UserError(f"--round-to must be a positive channel count; got {args.round_to}")
    try:
        result = prune_run(
            args.run_dir,
            target_macs=target_macs,
            target_size_mb=args.target_size_mb,
            finetune_epochs=args.finetune_epochs,
            finetune_lr=args.finetune_lr,
            run_name=args.run_name,
            round_to=args.round_to,
            self_distill=not args.no_self_distill,
            progress=not args.no_progress,
        )
    except PruningTargetError as error:
        raise UserError(str(error)) from None
    stats, record = result.stats, result.record
    print(
        f"pruned {record['model']}: MACs {stats.macs_before / 1e6:.1f}M -> {stats.macs_after / 1e6:.1f}M "
        f"({stats.macs_ratio:.0%}), size {stats.size_mb_before:.2f} -> {stats.size_mb_after:.2f} MB, "
        f"params {stats.params_before:,} -> {stats.params_after:,}"
    )
    if record.get("val_acc") is not None:
        parent = record.get("parent_val_acc")
        before = f"{parent:.1%} -> " if parent is not None else ""
        print(f"val accuracy {before}{record['val_acc']:.1%} after {record['finetune_epochs']} fine-tune epoch(s)")
    print(f"run folder: {result.run_dir}")
    return 0
