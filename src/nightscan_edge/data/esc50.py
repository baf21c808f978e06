"""ESC-50 (Piczak 2015): download the GitHub archive and convert it to a manifest with fold and group columns.

The archive holds ``ESC-50-master/audio/*.wav`` and ``ESC-50-master/meta/esc50.csv``
(``filename,fold,target,category,esc10,src_file,take``). Clips cut from one source recording share
``src_file``; it becomes the ``group`` column so that custom splits never put one recording on both sides.
"""

from __future__ import annotations

import csv
import shutil
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

from nightscan_edge.data.errors import DataError

ESC50_URL = "https://github.com/karolpiczak/ESC-50/archive/master.zip"
_META = "meta/esc50.csv"


def download_esc50(target: Path, url: str = ESC50_URL) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    try:
        with urllib.request.urlopen(url, timeout=60) as response, partial.open("wb") as handle:
            shutil.copyfileobj(response, handle)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        partial.unlink(missing_ok=True)
        raise DataError(
            f"could not download ESC-50 from {url} ({error}); download the zip yourself and pass --archive PATH"
        ) from error
    partial.replace(target)
    return target


def convert_esc50(archive: str | Path, out_dir: str | Path, esc10_only: bool = False) -> Path:
    """Extract the audio and write ``out_dir/manifest.csv`` (path,label,fold,group); returns the manifest."""
    archive, out_dir = Path(archive), Path(out_dir)
    if not archive.is_file():
        raise FileNotFoundError(f"ESC-50 archive {archive} not found")
    try:
        bundle = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as error:
        raise DataError(f"{archive} is not a zip archive ({error}); give the ESC-50 GitHub zip") from error
    with bundle:
        metas = [n for n in bundle.namelist() if n.endswith(_META)]
        if not metas:
            raise DataError(f"{archive} has no {_META}; is it the ESC-50 archive?")
        prefix = metas[0][: -len(_META)]
        with bundle.open(metas[0]) as handle:
            rows = list(csv.DictReader(line.decode("utf-8") for line in handle))
        required = {"filename", "fold", "category", "src_file", "esc10"}
        if not rows or required - set(rows[0]):
            raise DataError(
                f"{archive}:{_META} lacks columns {', '.join(sorted(required - set(rows[0] if rows else {})))}"
            )
        names = set(bundle.namelist())
        audio_dir = out_dir / "audio"
        audio_dir.mkdir(parents=True, exist_ok=True)
        manifest_rows = []
        for row in rows:
            if esc10_only and row["esc10"].strip().lower() not in ("true", "1"):
                continue
            member = f"{prefix}audio/{row['filename']}"
            if member not in names:
                raise DataError(f"{archive}: {member} is listed in {_META} but missing from the archive")
            with bundle.open(member) as source, (audio_dir / row["filename"]).open("wb") as target:
                shutil.copyfileobj(source, target)
            manifest_rows.append((f"audio/{row['filename']}", row["category"], row["fold"], row["src_file"]))
    manifest = out_dir / "manifest.csv"
    with manifest.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "fold", "group"])
        writer.writerows(manifest_rows)
    return manifest
