"""Errors of the export step, worded for the person running it."""
from __future__ import annotations


class ExportError(ValueError):
    """A bad export request (unknown format, missing extra, unusable run folder)."""


class ManifestError(ValueError):
    """A model file without a readable NightScan manifest embedded in it."""
