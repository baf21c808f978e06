"""Exporting a ``birdnet_head`` run: BirdNET V2.4's own LiteRT graph up to its embedding + the trained head, as
one phone file (FP32, FP16 weights, INT8), through the usual ``export_run`` (manifest inside, parity against the
server head, the INT8 gate, bundle). The surgery itself is ``nightscan_edge.artifact.birdnet_tflite``.

Only LiteRT can carry it: BirdNET V2.4 exists only as a TFLite graph, and its spectrogram (framing by
``GATHER`` over shapes computed at run time, ``RFFT2D``) has no converter into ONNX, Core ML or ExecuTorch
here -- tf2onnx and onnx2tf need TensorFlow and a SavedModel, which the wheel does not ship. Those formats
are reported as not written, one line each; asked alone, the export stops before writing anything.

``nightscan_edge.export.birdnet_files.export_birdnet_phone(run_dir)`` is the Python entry point.
"""

from __future__ import annotations

from nightscan_edge.artifact import FORMATS, ArtifactFormat, ExportError
from nightscan_edge.artifact.birdnet_tflite import BirdNetLiteRTFormat, birdnet_litert, head_layers
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.checkpoint import TrainedModel
from nightscan_edge.export.report import ArtifactResult
from nightscan_edge.models.birdnet_extractor import locate_birdnet

PHONE_FORMAT = "tflite"  # the table's LiteRT row, which the BirdNET row stands in for


def not_convertible(fmt: ArtifactFormat) -> str:
    """The one line a birdnet_head export prints for a format it cannot write."""
    return (
        f"{fmt.name}: not written for a birdnet_head run -- BirdNET V2.4 exists only as a TFLite graph whose "
        "spectrogram ops (RFFT2D, framing over run-time shapes) no converter turns into "
        f"{fmt.name} without TensorFlow; export tflite (docs/birdnet.md, 'BirdNET on the phone')"
    )


def is_frozen_birdnet(trained: TrainedModel) -> bool:
    return bool(getattr(trained.model, "takes_embeddings", False))


def phone_formats(
    selected: list[ArtifactFormat], trained: TrainedModel, from_config: bool
) -> tuple[list[ArtifactFormat], list[ArtifactResult]]:
    """The rows a birdnet_head export writes (BirdNET's LiteRT row in place of the table's) and one result per
    format it cannot write. Checks BirdNET's file and the head before anything is written.

    ``from_config``: the formats came from the run's config (no ``--formats``), whose default is for edge
    models; a birdnet_head run then writes LiteRT alone, without reporting the others.
    """
    litert = FORMATS[PHONE_FORMAT]
    if from_config:
        selected = [litert]
    row = birdnet_litert(litert, locate_birdnet().model)
    rows: list[ArtifactFormat] = []
    skipped: list[ArtifactResult] = []
    for fmt in selected:
        if fmt.suffix == litert.suffix:
            rows.append(row)
        else:
            skipped.append(ArtifactResult(fmt.name, "fp32", "skipped", error=not_convertible(fmt)))
    if not rows:
        raise ExportError(
            f"a birdnet_head run exports to LiteRT only (--formats {PHONE_FORMAT}): "
            + "; ".join(str(s.error).split(" -- ", 1)[1] for s in skipped[:1])
        )
    row.check(head_layers(ExportableClassifier(trained.model, 1.0)))
    return rows, skipped


__all__ = [
    "BirdNetLiteRTFormat",
    "is_frozen_birdnet",
    "not_convertible",
    "phone_formats",
]
