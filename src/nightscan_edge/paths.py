"""Path policy: where a path that arrives in a *request* may point, and how any path is shown.

The CLI user owns the machine and may name any path. The web server and its job workers act for whoever can
reach the server, so every path that arrives through a request -- a dataset folder, the files a manifest
inside an uploaded dataset lists, ``data.cache_dir``, ``data.audio_augment.noise_dir``, ``model.init_from``,
``model.weights``, ``train.teacher``, export folders -- goes through ``confine``: resolved (symlinks and
``..`` followed) and accepted only inside one of the allowed roots, else refused with one line.

File names are bytes on POSIX. A name that is not valid UTF-8 decodes (``os.fsdecode``) to a ``str`` holding
lone surrogates, which ``print``, JSON and SQLite refuse. ``display_path`` escapes such bytes as ``\\xNN`` so
a name can always be shown, logged and stored; the original ``Path`` still opens the file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from nightscan_edge.errors import UserError


class PathPolicyError(UserError):
    """A request named a path outside the folders the server may read or write."""


def display_path(path: str | os.PathLike[str] | bytes) -> str:
    """``path`` as printable text: undecodable bytes of the file name shown as ``\\xNN`` (never raises)."""
    text = os.fsdecode(path) if isinstance(path, bytes) else os.fspath(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_displayable(text: str) -> bool:
    """True when ``text`` encodes as UTF-8 (no lone surrogates from undecodable bytes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def is_inside(path: Path, roots: Iterable[Path]) -> bool:
    """True when the resolved ``path`` is one of ``roots`` or below one of them (roots are resolved too)."""
    real = Path(path).resolve()
    return any(real == root or real.is_relative_to(root) for root in (Path(r).resolve() for r in roots))


def confine(path: str | os.PathLike[str], roots: Iterable[Path], field: str, must_exist: bool = False) -> Path:
    """The resolved ``path`` if it lies inside one of ``roots``; else ``PathPolicyError`` naming ``field``.

    Relative paths are refused: a worker's working directory is not something a request should depend on.
    """
    roots = tuple(Path(r).resolve() for r in roots)
    text = os.fspath(path)
    where = ", ".join(display_path(r) for r in roots) or "none configured"
    if not text.strip():
        raise PathPolicyError(f"{field}: the path is empty")
    if "\0" in text:
        raise PathPolicyError(f"{field}: the path holds a NUL byte")
    candidate = Path(text).expanduser()
    if not candidate.is_absolute():
        raise PathPolicyError(f"{field}: {display_path(text)} must be an absolute path inside {where}")
    real = candidate.resolve()
    if not any(real == root or real.is_relative_to(root) for root in roots):
        raise PathPolicyError(f"{field}: {display_path(text)} is outside the folders this server may use ({where})")
    if must_exist and not real.exists():
        raise PathPolicyError(f"{field}: {display_path(text)} does not exist")
    return real
