"""``nightscan-edge`` command line: thin -- parses, calls the Python API, prints.

Each sub-command lives in ``nightscan_edge.commands.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``. Errors that are the user's to fix (bad config, missing file, unknown model) print as
one line ``error: ...`` and exit 2 -- every such error derives from ``errors.NightScanError`` -- anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from nightscan_edge import __version__
from nightscan_edge.errors import NightScanError, TrainingCancelled, UserError
from nightscan_edge.quiet import quiet_libraries

COMMAND_MODULES = (
    "models",
    "data",
    "train",
    "export",
    "quantize",
    "bench",
    "check",
    "predict",
    "serve",
    "serve_model",
    "prune",
    "tune",
    "review",
)


# Re-exported for code written against ``cli.UserError``; commands import it from ``errors``, the root.
__all__ = ["UserError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightscan-edge",
        description="Train tiny wildlife classifiers on your own recordings and photos, and ship them to phones.",
    )
    parser.add_argument("--version", action="version", version=f"nightscan-edge {__version__}")
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="show the libraries' own warnings and banners (hidden by default; $NIGHTSCAN_VERBOSE=1)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"nightscan_edge.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet_libraries(True if args.verbose else None, args.command)
    try:
        return int(args.handler(args) or 0)
    except TrainingCancelled as cancelled:  # a command that trains inside (prune) was stopped by a signal
        print(f"{cancelled}; last.ckpt kept", file=sys.stderr)
        return 128 + cancelled.signal_number
    except (NightScanError, FileNotFoundError) as error:
        message = str(error).strip().strip("'\"")
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
