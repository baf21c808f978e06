"""``serve --demo``: make sure a ready dataset is registered so a newcomer can click Train right away.

The demo is self-contained: the training engine's synthetic set (``nightscan-edge data synth``) is
generated into the data directory (offline, seconds) on a fresh clone. The real animal-sounds set is used
only when it is explicitly there: ``$NIGHTSCAN_SHARED_DATA/animal-sounds`` or ``../shared/data`` beside
the working directory (the project's own workspace layout), never a folder found relative to the installed
package.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

from nightscan_edge.web.dataset_intake import register_dataset
from nightscan_edge.web.settings import Settings
from nightscan_edge.web.store import Store

SYNTHETIC_FOLDER = "demo-synthetic"


def shared_demo_path() -> Path | None:
    """``../shared/data/animal-sounds`` (or under ``NIGHTSCAN_SHARED_DATA``) if it holds a manifest."""
    candidates = []
    if os.environ.get("NIGHTSCAN_SHARED_DATA"):
        candidates.append(Path(os.environ["NIGHTSCAN_SHARED_DATA"]) / "animal-sounds")
    candidates.append(Path.cwd().parent / "shared" / "data" / "animal-sounds")
    for candidate in candidates:
        if (candidate / "manifest.csv").is_file():
            return candidate.resolve()
    return None


def ensure_demo_dataset(settings: Settings, store: Store, worker_command: list[str]) -> dict[str, Any]:
    """The registered demo dataset, registering (and if needed generating) it first."""
    for dataset in store.datasets():
        if dataset["source"] == "demo":
            return dataset
    shared = shared_demo_path()
    if shared is not None:
        return register_dataset(store, settings, shared, "animal-sounds (demo)", source="demo")
    target = settings.uploads_dir.resolve() / SYNTHETIC_FOLDER
    if not target.exists():
        result = subprocess.run([*worker_command, "data", "synth", str(target)], capture_output=True, text=True)
        if result.returncode != 0:
            raise RuntimeError(f"could not generate the synthetic demo set: {result.stderr.strip()[-500:]}")
    return register_dataset(store, settings, target, "synthetic sounds (demo)", source="demo")
