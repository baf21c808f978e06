"""Errors of the export step, worded for the person running it."""

from __future__ import annotations

from nightscan_edge.errors import UserError


class ExportError(UserError):
    """A bad export request (unknown format, missing extra, unusable run folder)."""


class ManifestError(UserError):
    """A model file without a readable NightScan manifest embedded in it."""
