"""``nightscan-edge train``: train a model on a folder/manifest (or resume a run) -> a run folder."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from typing import Any

from nightscan_edge.commands import Subparsers
from nightscan_edge.config import Config, resolve_config
from nightscan_edge.config_layers import parse_override
from nightscan_edge.errors import UserError
from nightscan_edge.train import TrainingCancelled, train
from nightscan_edge.train.run_setup import DEVICE_OPTIONS

EXIT_CANCELLED: dict[int, int] = {signal.SIGINT: 130, signal.SIGTERM: 143}
RESUME_DEVICE_FLAGS = ("devices", "accelerator", "strategy")  # flags a resume honours (and --set train.num_nodes)


def add_parser(subparsers: Subparsers) -> None:
    parser = subparsers.add_parser("train", help="train a model; writes a run folder (checkpoints, figures, events)")
    parser.add_argument("--data", help="class-per-folder tree or manifest CSV (path,label[,split|fold][,group])")
    parser.add_argument("--model", help="registered model name (see `nightscan-edge models`)")
    parser.add_argument("--config", metavar="YAML", help="config file with data/model/train sections")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="override any config value, e.g. --set train.lr=0.01 (repeatable)",
    )
    parser.add_argument("--epochs", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--devices", help="Lightning devices: auto, a count or a list like 0,1")
    parser.add_argument("--accelerator", help="Lightning accelerator: auto, cpu, gpu, mps")
    parser.add_argument("--strategy", help="Lightning strategy: auto, ddp, ...")
    parser.add_argument("--seed", type=int)
    parser.add_argument(
        "--teacher",
        metavar="RUN",
        help="trained run to distill from (soft targets); a birdnet_head run teaches any audio model, a photo run "
        "(e.g. efficientnet_lite0_photo) a photo model",
    )
    parser.add_argument(
        "--unlabeled",
        metavar="DIR",
        help="recordings or photos without labels: soft pseudo-labels from --teacher (a birdnet_head or photo run)",
    )
    parser.add_argument(
        "--background", metavar="DIR", help="ambient recordings (no target calls): adds a 'background' class"
    )
    parser.add_argument("--init-from", metavar="RUN_OR_WEIGHTS", help="start from another run's or file's backbone")
    parser.add_argument(
        "--resume",
        metavar="RUN",
        help="continue an interrupted run folder from its last.ckpt with its saved config (--devices, "
        "--accelerator and --strategy still apply: the hardware may differ)",
    )
    parser.add_argument("--run-dir", help="exact run folder to write (default RUNS_DIR/RUN_NAME)")
    parser.add_argument("--runs-dir", help="parent folder of run folders (default runs)")
    parser.add_argument("--run-name", help="run id (default MODEL-YYYYmmdd-HHMMSS)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar (logs and events only)")
    parser.set_defaults(handler=run)


def config_from_args(args: argparse.Namespace) -> Config:
    """CLI flags -> the same resolved Config the Python API takes (flags win over --set, --set over YAML)."""
    flags = {
        "data": {"path": args.data, "background": args.background},
        "model": {"name": args.model, "init_from": args.init_from},
        "train": {
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "lr": args.lr,
            "devices": args.devices,
            "accelerator": args.accelerator,
            "strategy": args.strategy,
            "seed": args.seed,
            "teacher": args.teacher,
            "unlabeled": args.unlabeled,
            "runs_dir": args.runs_dir,
            "run_name": args.run_name,
        },
    }
    given = {section: {k: v for k, v in values.items() if v is not None} for section, values in flags.items()}
    given = {section: values for section, values in given.items() if values}
    overrides = list(args.set)
    for section, values in given.items():
        overrides += [f"{section}.{key}={_yaml_text(value)}" for key, value in values.items()]
    return resolve_config(yaml_path=args.config, overrides=overrides)


def resume_device_options(args: argparse.Namespace) -> tuple[dict[str, Any], list[str]]:
    """A resume's device flags (the hardware may differ from the run's first start) and the ``--set`` overrides
    that are not device options (refused: they would change what the run trains)."""
    options = {flag: getattr(args, flag) for flag in RESUME_DEVICE_FLAGS if getattr(args, flag) is not None}
    others = []
    for text in args.set:
        override = parse_override(text)
        train_values = override.get("train", {})
        if set(override) == {"train"} and set(train_values) <= set(DEVICE_OPTIONS):
            options.update(train_values)
        else:
            others.append(text)
    return options, others


def _yaml_text(value: object) -> str:
    return json.dumps(value) if isinstance(value, str) else str(value)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.resume:
        conflicting = [
            flag
            for flag in (
                "data",
                "model",
                "config",
                "epochs",
                "batch_size",
                "lr",
                "teacher",
                "unlabeled",
                "background",
                "init_from",
                "run_dir",
                "runs_dir",
                "run_name",
            )
            if getattr(args, flag)
        ]
        device_options, other_sets = resume_device_options(args)
        if conflicting or other_sets:
            raise UserError(
                "--resume continues a run with its saved config (only --devices, --accelerator, --strategy and "
                "--set train.num_nodes=N may change, for other hardware); drop "
                + ", ".join(["--" + f.replace("_", "-") for f in conflicting] + [f"--set {o}" for o in other_sets])
            )
        config = None
    else:
        if not args.data and not args.config:
            raise UserError("give --data PATH (or a --config with data.path), or --resume RUN")
        config = config_from_args(args)
    try:
        result = train(
            config,
            run_dir=args.run_dir,
            resume=args.resume,
            progress=not args.no_progress,
            device_options=device_options if args.resume else None,
        )
    except TrainingCancelled as cancelled:
        print(
            f"{cancelled}; last.ckpt kept: continue with `nightscan-edge train --resume "
            f"{args.resume or args.run_dir or 'RUN'}`",
            file=sys.stderr,
        )
        return EXIT_CANCELLED.get(cancelled.signal_number, 1)
    metrics = result.metrics
    if metrics.get("best_val_acc") is None or metrics.get("best_epoch") is None:
        print(f"run {result.run_id}: {result.status} -> {result.run_dir}")
        return 0
    print(
        f"run {result.run_id}: best val accuracy {metrics['best_val_acc']:.1%} (epoch {metrics['best_epoch']}), "
        f"macro-F1 {metrics['val_macro_f1']:.3f}, {metrics['seconds']:.0f} s -> {result.run_dir}"
    )
    return 0
