"""The CLI's sub-commands, one module each with ``add_parser(subparsers)`` and ``run(args) -> int``."""

from __future__ import annotations

import argparse
from typing import TypeAlias

# What ``ArgumentParser.add_subparsers`` returns; argparse names the class but gives it no public alias.
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"
