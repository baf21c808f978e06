"""``nightscan-edge prune RUN``: structured channel pruning of a trained run, then a short fine-tune."""
from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "prune", help="shrink a trained run by structured channel pruning (torch-pruning) and fine-tune it",
    )
    parser.add_argument("run_dir", metavar="RUN", help="run folder (or .ckpt) of the trained model to prune")
    parser.add_argument("--target-macs", type=float, default=None,
                        help="keep at most this fraction of the model's MACs, e.g. 0.5 (default 0.5 if no size target)")
    parser.add_argument("--target-size-mb", type=float, default=None, help="prune until the FP32 size is at most this")
    parser.add_argument("--finetune-epochs", type=int, default=5, help="fine-tuning epochs after pruning (0 = none)")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from nightscan_edge.cli import UserError

    raise UserError("prune is being built; not available yet")
