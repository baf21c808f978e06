"""Errors about exported artifacts, worded for the person holding the file.

They live on the ground floor so that export, runtime, predict and bench raise and catch the same classes
without importing each other.
"""

from __future__ import annotations

from nightscan_edge.errors import UserError


class ExportError(UserError):
    """A bad export request (unknown format, missing extra, unusable run folder)."""


class ManifestError(UserError):
    """A model file without a readable NightScan manifest embedded in it."""


class RuntimeUnavailableError(UserError, RuntimeError):
    """The artifact is fine but this machine cannot run it (e.g. Core ML off macOS)."""
