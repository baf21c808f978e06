"""The annotation formats ``data import-annotations`` / ``export-annotations`` know: one row per format, each
knowing how to read its files into annotations and write annotations back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nightscan_edge.data.annotations.labelstudio import read_labelstudio, write_labelstudio
from nightscan_edge.data.annotations.raven import read_raven, write_raven
from nightscan_edge.data.annotations.table import Annotation, AnnotationError


@dataclass(frozen=True)
class ImportOptions:
    """What a reader may need besides the file: a fixed recording, the allowed labels, format details."""

    recording: Path | None = None
    labels: tuple[str, ...] | None = None
    label_column: str | None = None  # Raven: the annotation column with the labels
    audio_root: Path | None = None  # Label Studio: the folder its local-files storage serves


class AnnotationFormat:
    name: str
    description: str

    def read(self, path: Path, options: ImportOptions) -> list[Annotation]:
        raise NotImplementedError

    def write(self, path: Path, annotations: Sequence[Annotation], options: ImportOptions) -> Path:
        raise NotImplementedError


class RavenFormat(AnnotationFormat):
    name, description = "raven", "Raven Pro selection table (tab-separated .txt)"

    def read(self, path: Path, options: ImportOptions) -> list[Annotation]:
        if options.audio_root is not None:
            raise AnnotationError("--audio-root applies to --format labelstudio only")
        return read_raven(path, options.recording, options.labels, options.label_column)

    def write(self, path: Path, annotations: Sequence[Annotation], options: ImportOptions) -> Path:
        if options.audio_root is not None:
            raise AnnotationError("--audio-root applies to --format labelstudio only")
        return write_raven(path, annotations)


class LabelStudioFormat(AnnotationFormat):
    name, description = "labelstudio", "Label Studio JSON tasks (audio, 'labels' regions)"

    def read(self, path: Path, options: ImportOptions) -> list[Annotation]:
        if options.label_column is not None:
            raise AnnotationError("--label-column applies to --format raven only")
        return read_labelstudio(path, options.recording, options.labels, options.audio_root)

    def write(self, path: Path, annotations: Sequence[Annotation], options: ImportOptions) -> Path:
        return write_labelstudio(path, annotations, options.audio_root)


FORMATS: dict[str, AnnotationFormat] = {row.name: row for row in (RavenFormat(), LabelStudioFormat())}
