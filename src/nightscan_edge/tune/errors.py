"""The tuner's errors: each is one line the CLI prints as it is (``UserError``), naming what to do."""

from __future__ import annotations

from nightscan_edge.errors import UserError


class TuneError(UserError):
    """A study that cannot start or go on: its storage, its name, its options."""


class UnreachableBudgetError(TuneError):
    """The smallest configuration of the space is already over the budget's size, latency or memory limits."""
