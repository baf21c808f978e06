"""Label Studio JSON tasks (audio with labelled time regions) <-> annotations.

One task per recording: ``data.audio`` names it, and each region is a result of type ``labels`` with
``value.start``/``value.end`` in seconds and ``value.labels``, tied to the labelling config by
``from_name``/``to_name`` (``LABELLING_CONFIG`` is the config these files fit). Label Studio's "JSON" export
reads back the same way; of several annotations of one task (several annotators, or edits) the last one
not cancelled is used, and results of other types (text areas, choices) are left out.

``data.audio`` is a path, or -- for recordings that Label Studio serves from local storage --
``/data/local-files/?d=RELATIVE`` below ``audio_root``. Uploaded or remote audio (``/data/upload/...``,
``http...``) has no local path: give ``recording``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from nightscan_edge.atomic import write_json_atomic
from nightscan_edge.data.annotations.table import (
    Annotation,
    AnnotationError,
    check_annotations,
    make_annotation,
    parse_seconds,
)
from nightscan_edge.paths import display_path

FROM_NAME, TO_NAME = "label", "audio"
LOCAL_FILES = "/data/local-files/"
LABELLING_CONFIG = """<View>
  <Labels name="label" toName="audio">
    <!-- one <Label value="..."/> per class -->
  </Labels>
  <Audio name="audio" value="$audio"/>
</View>"""


def _audio_path(audio: Any, source: Path, audio_root: Path | None, recording: Path | None, where: str) -> Path:
    if recording is not None:
        return recording
    if not isinstance(audio, str) or not audio:
        raise AnnotationError(f"{where}: no data.audio naming the recording; give --recording")
    if audio.startswith(LOCAL_FILES):
        relative = parse_qs(urlsplit(audio).query).get("d", [""])[0]
        if not relative:
            raise AnnotationError(f"{where}: data.audio '{audio}' has no ?d=PATH")
        return (audio_root or source.parent) / relative
    if audio.startswith(("/data/upload/", "http://", "https://", "s3://", "gs://")):
        raise AnnotationError(
            f"{where}: data.audio '{audio}' is not a local file; give --recording (one recording per file)"
        )
    path = Path(audio)
    return path if path.is_absolute() else (audio_root or source.parent) / path


def _last_annotation(task: dict[str, Any], where: str) -> list[Any]:
    annotations = task.get("annotations") or []
    if not isinstance(annotations, list):
        raise AnnotationError(f"{where}: 'annotations' must be a list")
    kept = [a for a in annotations if isinstance(a, dict) and not a.get("was_cancelled")]
    result = kept[-1].get("result", []) if kept else []
    if not isinstance(result, list):
        raise AnnotationError(f"{where}: an annotation's 'result' must be a list")
    return result


def _regions(result: list[Any], path: Path, where: str) -> list[Annotation]:
    regions = []
    for number, item in enumerate(result, start=1):
        if not isinstance(item, dict) or item.get("type") != "labels":
            continue
        at = f"{where} result {number}"
        value = item.get("value")
        if not isinstance(value, dict) or not isinstance(value.get("labels"), list):
            raise AnnotationError(f"{at}: a 'labels' result needs value.start, value.end and value.labels")
        start_s = parse_seconds(str(value.get("start", "")), at, "value.start")
        end_s = parse_seconds(str(value.get("end", "")), at, "value.end")
        if not value["labels"]:
            raise AnnotationError(f"{at}: value.labels is empty; label the region or delete it")
        regions += [make_annotation(path, start_s, end_s, str(label), at) for label in value["labels"]]
    return regions


def read_labelstudio(
    source: str | Path,
    recording: str | Path | None = None,
    labels: Iterable[str] | None = None,
    audio_root: str | Path | None = None,
) -> list[Annotation]:
    """The labelled regions of a Label Studio JSON export (a list of tasks, or one task), checked."""
    source = Path(source)
    name = display_path(source)
    try:
        tasks = json.loads(source.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise AnnotationError(f"{name} not found; give a Label Studio JSON export") from None
    except (UnicodeDecodeError, IsADirectoryError) as error:
        raise AnnotationError(f"{name} is not a JSON text file ({error})") from None
    except json.JSONDecodeError as error:
        raise AnnotationError(
            f"{name}: broken JSON at line {error.lineno} column {error.colno} ({error.msg}); re-export it from "
            "Label Studio as JSON"
        ) from None
    tasks = [tasks] if isinstance(tasks, dict) else tasks
    if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
        raise AnnotationError(f"{name}: expected a list of Label Studio tasks (objects with data and annotations)")
    fixed = Path(recording) if recording is not None else None
    if fixed is not None and len(tasks) > 1:
        raise AnnotationError(f"{name} holds {len(tasks)} tasks; --recording applies to a file of one task")
    root = Path(audio_root) if audio_root is not None else None
    annotations = []
    for number, task in enumerate(tasks, start=1):
        where = f"{name} task {number}"
        data = task.get("data")
        if not isinstance(data, dict):
            raise AnnotationError(f"{where}: no 'data' object; not a Label Studio task")
        result = _last_annotation(task, where)
        if result:
            annotations += _regions(result, _audio_path(data.get(TO_NAME), source, root, fixed, where), where)
    check_annotations(annotations, labels, name)
    return annotations


def _audio_reference(path: Path, audio_root: Path | None) -> str:
    if audio_root is None:
        return str(path.resolve())
    try:
        relative = path.resolve().relative_to(audio_root.resolve())
    except ValueError:
        raise AnnotationError(
            f"{display_path(path)} is not below --audio-root {display_path(audio_root)}; Label Studio serves "
            "local files from one root"
        ) from None
    return f"{LOCAL_FILES}?d={quote(relative.as_posix())}"


def labelstudio_tasks(
    annotations: Sequence[Annotation], seconds: dict[Path, float], audio_root: Path | None = None
) -> list[dict[str, Any]]:
    """One task per recording (in order of first appearance) holding one annotation with all its regions."""
    by_recording: dict[Path, list[Annotation]] = {}
    for annotation in annotations:
        by_recording.setdefault(annotation.path, []).append(annotation)
    tasks = []
    for path, regions in by_recording.items():
        result = [
            {
                "id": f"r{number}",
                "from_name": FROM_NAME,
                "to_name": TO_NAME,
                "type": "labels",
                "original_length": seconds[path],
                "value": {"start": region.start_s, "end": region.end_s, "channel": 0, "labels": [region.label]},
            }
            for number, region in enumerate(regions, start=1)
        ]
        tasks.append({"data": {TO_NAME: _audio_reference(path, audio_root)}, "annotations": [{"result": result}]})
    return tasks


def write_labelstudio(
    path: str | Path, annotations: Sequence[Annotation], audio_root: str | Path | None = None
) -> Path:
    recordings = check_annotations(annotations)
    seconds = {recording: length for recording, (length, _) in recordings.items()}
    root = Path(audio_root) if audio_root is not None else None
    return write_json_atomic(path, labelstudio_tasks(annotations, seconds, root))
