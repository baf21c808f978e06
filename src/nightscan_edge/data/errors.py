"""The one error type for data problems the user must fix (empty set, single class, too many bad files)."""

from __future__ import annotations

from nightscan_edge.errors import UserError


class DataError(UserError):
    """A data set problem worded for the person who owns the data: what is wrong and what to do."""
