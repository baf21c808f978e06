"""The web catalogue's rows: every registered model with its complexity, measured once and cached.

Measuring complexity builds every model (seconds each on a laptop), so the rows are kept in memory and in
a small cache file keyed by the models' source code: a restarted server shows the page at once, and any
change to a model file measures again.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path
from typing import Any

import nightscan_edge
from nightscan_edge import models
from nightscan_edge.models.catalogue import catalogue

_lock = threading.Lock()
_rows: list[dict[str, Any]] | None = None


def _cache_file() -> Path:
    digest = hashlib.sha256(nightscan_edge.__version__.encode())
    for source in sorted(Path(models.__file__).parent.rglob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nightscan-edge"
    return base / f"catalogue-{digest.hexdigest()[:16]}.json"


def cached_catalogue() -> list[dict[str, Any]]:
    """The catalogue rows (``models.catalogue.catalogue()``), measured once per models-source version."""
    global _rows
    with _lock:
        if _rows is not None:
            return _rows
        cache = _cache_file()
        try:
            _rows = json.loads(cache.read_text())
            return _rows
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        _rows = catalogue()
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(f".{os.getpid()}.tmp")
            temporary.write_text(json.dumps(_rows))
            temporary.replace(cache)
        except OSError:
            pass  # a read-only home only costs the next start a re-measure
        return _rows


def warm_catalogue_in_background() -> None:
    threading.Thread(target=cached_catalogue, name="catalogue-warmup", daemon=True).start()
