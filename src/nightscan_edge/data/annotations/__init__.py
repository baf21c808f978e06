"""Time-stamped annotations of recordings: the project's CSV (``path,start_s,end_s,label``, as ``data prelabel``
writes it), Raven selection tables and Label Studio JSON tasks, and labelled clips cut from them."""

from nightscan_edge.data.annotations.clips import ClipsReport, clips_from_annotations
from nightscan_edge.data.annotations.formats import FORMATS, AnnotationFormat
from nightscan_edge.data.annotations.table import (
    Annotation,
    AnnotationError,
    check_annotations,
    read_annotation_csv,
    write_annotation_csv,
)

__all__ = [
    "FORMATS",
    "Annotation",
    "AnnotationError",
    "AnnotationFormat",
    "ClipsReport",
    "check_annotations",
    "clips_from_annotations",
    "read_annotation_csv",
    "write_annotation_csv",
]
