"""Listing a labeled data set: a class-per-folder tree or a manifest CSV (``path,label[,split|fold][,group]``).

A manifest may hold several labels per clip instead: a ``labels`` column, ``;``-separated (``owl;frog``), empty for
a clip where nothing calls (a negative). Such a set trains with ``train.objective=multilabel``; a folder tree is
always one label per file.

Listing only looks at names and columns; reading the media happens later (and reports bad files). The input kind
(audio or image) is read off the file suffixes so that a folder of photos is never fed to an audio model.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from nightscan_edge.audio.decode import AUDIO_SUFFIXES, audio_files_under
from nightscan_edge.data.errors import DataError
from nightscan_edge.paths import display_path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")
MANIFEST_NAME = "manifest.csv"
LABEL_SEPARATOR = ";"  # between the labels of one clip in a manifest's ``labels`` column and in split.csv


@dataclass(frozen=True)
class Sample:
    """One labeled file; ``split`` and ``group`` come from the manifest when it has them.

    ``targets`` is the clip's set of labels when the data set is multi-label (a ``labels`` column, annotation
    windows): sorted, possibly empty (nothing calls); ``label`` is then those labels joined with ``;``, so a
    duplicate check or a log line still reads one text. None for one label per file."""

    path: Path
    label: str
    split: str | None = None
    fold: str | None = None
    group: str | None = None
    targets: tuple[str, ...] | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        """The labels this file is positive for: its targets, or its one label."""
        return self.targets if self.targets is not None else (self.label,)


@dataclass(frozen=True)
class DatasetListing:
    root: Path
    samples: list[Sample]
    kind: str  # "audio" | "image"
    not_media: list[Path]  # files in class folders that are neither audio nor images
    manifest: Path | None = None
    dropped: list[tuple[Path, str]] = field(default_factory=list)  # manifest rows left out (keep-first)

    @property
    def multilabel(self) -> bool:
        return any(s.targets is not None for s in self.samples)

    @property
    def labels(self) -> list[str]:
        return sorted({label for s in self.samples for label in s.classes})

    def counts(self) -> dict[str, int]:
        """Files per label (multi-label: files positive for it)."""
        counts = Counter(label for s in self.samples for label in s.classes)
        return {label: counts[label] for label in self.labels}


def unlabelled_recordings(folder: str | Path, option: str, what: str) -> list[Path]:
    """Every audio file under a folder given with ``option`` (``--background``, ``--unlabeled``), whose labels, if
    any, are ignored; a missing folder or one without audio is one line naming the option."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{option} {folder} is not a folder; give a folder of {what}")
    paths = audio_files_under(root)
    if not paths:
        raise DataError(f"{option} {folder} holds no audio files ({', '.join(AUDIO_SUFFIXES)})")
    return paths


def unlabelled_photos(folder: str | Path, option: str) -> list[Path]:
    """Every photo under a folder given with ``option`` (``--unlabeled`` for a photo student), sorted, hidden files
    left out; a missing folder or one without photos is one line naming the option."""
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"{option} {folder} is not a folder; give a folder of photos without labels")
    paths = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and _visible(p.relative_to(root))
    )
    if not paths:
        raise DataError(f"{option} {folder} holds no photos ({', '.join(IMAGE_SUFFIXES)})")
    return paths


def media_kind(path: Path) -> str | None:
    suffix = path.suffix.lower()
    if suffix in AUDIO_SUFFIXES:
        return "audio"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return None


def skip_reason(path: Path, kind: str) -> str:
    """Why a listed file is left out of a ``kind`` data set (shown in inspection and the run's bad files)."""
    if path.is_symlink() and not path.exists():
        return "dangling symbolic link (its target does not exist)"
    other = media_kind(path)
    if other is not None and other != kind:
        return f"{other} file in an {kind} data set"
    return "not an audio or image file"


def _visible(path: Path) -> bool:
    return not any(part.startswith(".") for part in path.parts)


def _listing_kind(samples: list[Sample], where: Path) -> str:
    kinds = Counter(kind for kind in (media_kind(s.path) for s in samples) if kind is not None)
    if not kinds:
        raise DataError(
            f"{where}: no audio ({', '.join(AUDIO_SUFFIXES)}) or image ({', '.join(IMAGE_SUFFIXES)}) files found"
        )
    # A stray photo among recordings (or the reverse) is listed as skipped with its reason; a set that is as
    # much one kind as the other is refused, since which files were meant is anyone's guess.
    if kinds["audio"] and kinds["image"] and min(kinds.values()) * 2 > max(kinds.values()):
        raise DataError(
            f"{where}: mixes audio ({kinds['audio']}) and image ({kinds['image']}) files; keep one kind per data set"
        )
    return kinds.most_common(1)[0][0]


def _list_folder(root: Path) -> DatasetListing:
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not class_dirs:
        raise DataError(f"{root}: no class folders; expected {root}/<label>/<files> or a manifest CSV")
    samples: list[Sample] = []
    not_media: list[Path] = []
    for class_dir in class_dirs:
        for path in sorted(class_dir.rglob("*")):
            if not _visible(path.relative_to(root)):
                continue
            if not path.is_file():
                if path.is_symlink() and not path.exists():
                    not_media.append(path)  # dangling link: listed as skipped, never silently dropped
                continue
            if media_kind(path) is None:
                not_media.append(path)
            else:
                samples.append(Sample(path, class_dir.name))
    if not samples:
        raise DataError(f"{root}: the class folders hold no audio or image files")
    kind = _listing_kind(samples, root)
    wrong_kind = [s.path for s in samples if media_kind(s.path) != kind]
    samples = [s for s in samples if media_kind(s.path) == kind]
    return DatasetListing(root, samples, kind, not_media + wrong_kind)


def _clean(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _read_manifest_rows(manifest: Path) -> list[tuple[int, dict[str, str]]]:
    try:
        with manifest.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            columns = [c.strip() for c in reader.fieldnames or []]
            if {"start_s", "end_s"} <= set(columns):  # its rows are stretches of recordings, not clips
                raise DataError(
                    f"{display_path(manifest)} is an annotation table (path,start_s,end_s,label), not a manifest: "
                    "train on it with --data and --set train.objective=multilabel (cut into labelled windows), or "
                    "cut clips with `nightscan-edge data clips-from-annotations`"
                )
            missing = {"path", "label"} - set(columns) - ({"label"} if "labels" in columns else set())
            if missing:
                raise DataError(
                    f"{display_path(manifest)}: missing column(s) {', '.join(sorted(missing))}; a manifest "
                    f"needs path,label[,split|fold][,group] or path,labels (several per clip, ';'-separated) "
                    f"(has: {', '.join(columns)[:120] or 'nothing'})"
                )
            if {"label", "labels"} <= set(columns):
                raise DataError(
                    f"{display_path(manifest)} has both a label and a labels column; keep one: label (one per "
                    "clip) or labels (several per clip, ';'-separated)"
                )
            return [(line, {(k or "").strip(): v for k, v in row.items()}) for line, row in enumerate(reader, start=2)]
    except UnicodeDecodeError:
        raise DataError(
            f"{display_path(manifest)} is not UTF-8 text (a binary file?); a manifest is a CSV with path,label columns"
        ) from None
    except csv.Error as error:
        raise DataError(
            f"{display_path(manifest)} is not a readable CSV ({error}); a manifest is a CSV with path,label columns"
        ) from None


def _check_duplicates(
    manifest: Path, samples: list[Sample], duplicates: str
) -> tuple[list[Sample], list[tuple[Path, str]]]:
    """Rows naming the same file twice would land in train *and* val, or teach one file two labels: refused
    with the list, or (``data.duplicates=keep-first``) the first row kept and the others reported."""
    first: dict[Path, Sample] = {}
    kept, dropped, conflicts, repeats = [], [], [], []
    for sample in samples:
        key = sample.path.resolve()
        if key not in first:
            first[key] = sample
            kept.append(sample)
            continue
        earlier = first[key]
        if earlier.label != sample.label:
            conflicts.append(f"{display_path(sample.path)} ({earlier.label} vs {sample.label})")
            dropped.append((sample.path, f"conflicting label {sample.label!r}: kept the first row's {earlier.label!r}"))
        else:
            repeats.append(display_path(sample.path))
            dropped.append((sample.path, "duplicate row: kept the first"))
    if (conflicts or repeats) and duplicates != "keep-first":
        listed = conflicts + repeats
        shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
        what = " and ".join(
            part
            for part, items in (
                (f"{len(conflicts)} path(s) with conflicting labels", conflicts),
                (f"{len(repeats)} duplicate path(s)", repeats),
            )
            if items
        )
        raise DataError(
            f"{display_path(manifest)} lists {what}: {shown}; fix the manifest, or keep the first row "
            "of each with --set data.duplicates=keep-first"
        )
    return kept, dropped


def split_labels(text: str) -> tuple[str, ...]:
    """A ``labels`` cell -> its sorted, distinct labels (empty: a negative clip)."""
    return tuple(sorted({part.strip() for part in text.split(LABEL_SEPARATOR) if part.strip()}))


def _row_labels(row: dict[str, str], where: str) -> tuple[str, tuple[str, ...] | None]:
    """(label, targets) of a manifest row: one ``label``, or the set in ``labels`` (None: no labels column)."""
    if "labels" in row:
        targets = split_labels(row.get("labels") or "")
        return LABEL_SEPARATOR.join(targets), targets
    label = _clean(row.get("label"))
    if label is None:
        raise DataError(f"{where}: empty path or label")
    return label, None


def _list_manifest(manifest: Path, duplicates: str = "refuse") -> DatasetListing:
    root = manifest.parent
    samples = []
    for line, row in _read_manifest_rows(manifest):
        where = f"{display_path(manifest)}:{line}"
        path_text = _clean(row.get("path"))
        if path_text is None:
            raise DataError(f"{where}: empty path or label")
        label, targets = _row_labels(row, where)
        if "\0" in path_text or "\0" in label:
            raise DataError(f"{where}: a NUL byte in the path or label; is this a CSV file?")
        path = Path(path_text)
        samples.append(
            Sample(
                path if path.is_absolute() else root / path,
                label,
                _clean(row.get("split")),
                _clean(row.get("fold")),
                _clean(row.get("group")),
                targets,
            )
        )
    if not samples:
        raise DataError(f"{display_path(manifest)}: the manifest lists no files")
    samples, dropped = _check_duplicates(manifest, samples, duplicates)
    kind = _listing_kind(samples, manifest)
    not_media = [s.path for s in samples if media_kind(s.path) != kind]
    return DatasetListing(root, [s for s in samples if media_kind(s.path) == kind], kind, not_media, manifest, dropped)


def list_dataset(path: str | Path, duplicates: str = "refuse") -> DatasetListing:
    """A manifest CSV, a folder holding ``manifest.csv``, or a class-per-folder tree -> ``DatasetListing``."""
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(f"data path {path} does not exist; give a class-per-folder tree or a manifest CSV")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DataError(f"{path}: a data file must be a manifest CSV (path,label[,split|fold][,group])")
        return _list_manifest(path, duplicates)
    if (path / MANIFEST_NAME).is_file():
        return _list_manifest(path / MANIFEST_NAME, duplicates)
    return _list_folder(path)
