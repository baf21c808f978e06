"""``nightscan-edge`` command line: thin -- parses, calls the Python API, prints.

Each sub-command lives in ``nightscan_edge.commands.<name>`` with ``add_parser(subparsers)`` and
``run(args) -> int``. Errors that are the user's to fix (bad config, missing file, unknown model) print as
one line ``error: ...`` and exit 2; anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from nightscan_edge import __version__

COMMAND_MODULES = (
    "models", "data", "train", "export", "quantize", "bench", "check", "predict", "serve", "serve_model", "prune",
)


class UserError(Exception):
    """An error worded for the user (what was wrong, what to do); printed without a traceback."""


def _user_error_types() -> tuple[type[BaseException], ...]:
    from nightscan_edge.checkpoint import CheckpointError
    from nightscan_edge.config import ConfigError
    from nightscan_edge.data.errors import DataError
    from nightscan_edge.registry import UnknownNameError

    return (UserError, ConfigError, CheckpointError, UnknownNameError, FileNotFoundError, DataError)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nightscan-edge",
        description="Train tiny wildlife classifiers on your own recordings and photos, and ship them to phones.",
    )
    parser.add_argument("--version", action="version", version=f"nightscan-edge {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"nightscan_edge.commands.{name}")
        module.add_parser(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except _user_error_types() as error:
        message = str(error).strip().strip("'\"")
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
