"""``inspect_dataset``: what a data set holds and which files will not load (CLI ``data inspect`` and the web's
dataset page use the same function)."""

from __future__ import annotations

from pathlib import Path

from nightscan_edge.data.sources import list_dataset, skip_reason
from nightscan_edge.paths import display_path


def _check_audio(path: Path) -> str | None:
    import soundfile

    try:
        info = soundfile.info(str(path))
    except Exception as error:  # libsndfile raises several types for corrupt or foreign files
        return f"not decodable audio ({error})"
    return "audio file has no samples" if info.frames == 0 else None


def _check_image(path: Path) -> str | None:
    from PIL import Image, UnidentifiedImageError
    from PIL.Image import DecompressionBombError

    try:
        with Image.open(path) as image:
            image.verify()
    except (UnidentifiedImageError, OSError, ValueError, DecompressionBombError) as error:
        return f"not a readable image ({error})"
    return None


def inspect_dataset(path: str | Path) -> dict:
    """``{kind, classes, counts, total, bad_files: [{path, reason}], root, manifest}`` without decoding audio."""
    listing = list_dataset(path, duplicates="keep-first")  # inspection lists duplicates instead of refusing
    check = _check_audio if listing.kind == "audio" else _check_image
    bad = [{"path": display_path(p), "reason": skip_reason(p, listing.kind)} for p in listing.not_media]
    bad += [{"path": display_path(p), "reason": reason} for p, reason in listing.dropped]
    good_counts: dict[str, int] = {}
    for sample in listing.samples:
        if not sample.path.is_file():
            reason = "file not found"
        elif sample.path.stat().st_size == 0:
            reason = "empty file"
        else:
            reason = check(sample.path)
        if reason is None:
            good_counts[sample.label] = good_counts.get(sample.label, 0) + 1
        else:
            bad.append({"path": display_path(sample.path), "reason": reason})
    classes = listing.labels
    counts = {label: good_counts.get(label, 0) for label in classes}
    return {
        "kind": listing.kind,
        "classes": classes,
        "counts": counts,
        "total": sum(counts.values()),
        "bad_files": bad,
        "root": display_path(listing.root),
        "manifest": display_path(listing.manifest) if listing.manifest else None,
    }
