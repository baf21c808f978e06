"""``inspect_dataset``: what a data set holds and which files will not load (CLI ``data inspect`` and the web's
dataset page use the same function)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import soundfile
from PIL import Image, UnidentifiedImageError
from PIL.Image import DecompressionBombError

from nightscan_edge.data.sources import list_dataset, skip_reason
from nightscan_edge.paths import display_path


def _check_audio(path: Path) -> tuple[str | None, dict[str, Any]]:
    """(why unusable or None, facts): header facts, and the last samples actually decoded.

    A header alone lies about a cut-off file: a FLAC truncated to 2 KB still declares its full length, so
    the tail is read too (a seek and one small read, cheap even for hour-long recordings).
    """

    try:
        info = soundfile.info(os.fsencode(path))
    except Exception as error:  # libsndfile raises several types for corrupt or foreign files
        return f"not decodable audio ({error})", {}
    facts = {
        "duration_s": round(info.frames / info.samplerate, 3) if info.samplerate else None,
        "sample_rate": info.samplerate,
        "channels": info.channels,
    }
    if info.frames == 0:
        return "audio file has no samples", facts
    tail = min(info.frames, 1024)
    try:
        with soundfile.SoundFile(str(path)) as handle:
            handle.seek(info.frames - tail)
            read = len(handle.read(tail))
    except Exception as error:  # a truncated stream fails to seek or loses sync
        return (
            f"truncated or damaged: the header promises {info.frames} samples but the end cannot be read ({error})",
            facts,
        )
    if read < tail:
        return f"truncated: the header promises {info.frames} samples, the file ends early", facts
    return None, facts


def _check_image(path: Path) -> tuple[str | None, dict[str, Any]]:

    try:
        with Image.open(path) as image:
            facts = {"width": image.width, "height": image.height, "mode": image.mode}
            image.verify()
        with Image.open(path) as image:
            image.load()  # verify() misses truncated pixel data; decoding finds it
    except (UnidentifiedImageError, OSError, ValueError, DecompressionBombError) as error:
        return f"not a readable image ({error})", {}
    return None, facts


def inspect_dataset(path: str | Path) -> dict[str, Any]:
    """``{kind, classes, counts, total, bad_files: [{path, reason}], files: [...], root, manifest}``.

    ``files`` has one row per listed file: ``path`` (relative to the root when inside it), ``label``, ``ok``,
    ``reason`` and what the header says (audio: ``duration_s, sample_rate, channels``; photos: ``width,
    height, mode``). Audio is not decoded beyond its last samples.
    """
    listing = list_dataset(path, duplicates="keep-first")  # inspection lists duplicates instead of refusing
    check = _check_audio if listing.kind == "audio" else _check_image
    root = Path(listing.root)
    bad = [{"path": display_path(p), "reason": skip_reason(p, listing.kind)} for p in listing.not_media]
    bad += [{"path": display_path(p), "reason": reason} for p, reason in listing.dropped]
    files = [
        {"path": _relative(p, root), "label": None, "ok": False, "reason": skip_reason(p, listing.kind)}
        for p in listing.not_media
    ]
    good_counts: dict[str, int] = {}
    for sample in listing.samples:
        facts: dict[str, Any] = {}
        if not sample.path.is_file():
            reason: str | None = "file not found"
        elif sample.path.stat().st_size == 0:
            reason = "empty file"
        else:
            reason, facts = check(sample.path)
        if reason is None:
            good_counts[sample.label] = good_counts.get(sample.label, 0) + 1
        else:
            bad.append({"path": display_path(sample.path), "reason": reason})
        files.append(
            {
                "path": _relative(sample.path, root),
                "label": sample.label,
                "ok": reason is None,
                "reason": reason,
                **facts,
            }
        )
    classes = listing.labels
    counts = {label: good_counts.get(label, 0) for label in classes}
    return {
        "kind": listing.kind,
        "classes": classes,
        "counts": counts,
        "total": sum(counts.values()),
        "bad_files": bad,
        "files": files,
        "root": display_path(listing.root),
        "manifest": display_path(listing.manifest) if listing.manifest else None,
    }


def _relative(path: Path, root: Path) -> str:
    try:
        return display_path(Path(path).resolve().relative_to(root.resolve()))
    except ValueError:  # a manifest may point outside its folder
        return display_path(path)
