"""ONNX: opset 18, dynamic batch, static QDQ INT8; the manifest in ``metadata_props["nightscan_manifest"]``
(JSON, as Ultralytics stores its metadata), run with ONNX Runtime."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge import __version__
from nightscan_edge.artifact.backend import EXPORT_EXTRA, ArtifactFormat, register_format
from nightscan_edge.artifact.errors import ManifestError
from nightscan_edge.artifact.manifest import MANIFEST_KEY, parse_manifest_json

if TYPE_CHECKING:
    import torch

    from nightscan_edge.export.wrapper import ExportableClassifier
    from nightscan_edge.runtime.base import Runner


def embed_onnx(path: Path, manifest: dict[str, Any]) -> None:
    import onnx  # the [export] extra

    model = onnx.load(str(path))
    kept = [p for p in model.metadata_props if p.key not in (MANIFEST_KEY, "labels")]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in ((MANIFEST_KEY, json.dumps(manifest)), ("labels", json.dumps(manifest["labels"]))):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.producer_name = "nightscan-edge"
    model.producer_version = __version__
    onnx.save(model, str(path))


def read_onnx_manifest(path: Path) -> dict[str, Any]:
    import onnx  # the [export] extra

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError/ValidationError subclasses of several bases
        raise ManifestError(f"{path.name} is not a readable ONNX model ({error})") from error
    props = {p.key: p.value for p in model.metadata_props}
    if MANIFEST_KEY not in props:
        raise ManifestError(f"{path.name} has no '{MANIFEST_KEY}' metadata")
    return parse_manifest_json(props[MANIFEST_KEY], path.name)


class OnnxFormat(ArtifactFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        from nightscan_edge.export import onnx_format  # torch + the [export] extra

        return onnx_format.export_onnx(module, example, path)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        from nightscan_edge.export import onnx_format  # torch + the [export] extra

        onnx_format.quantize_onnx(fp32_path, int8_path, calibration, keep_float)
        return True

    def sensitive_layers(self, fp32_path: Path, calibration: np.ndarray) -> list[str]:
        from nightscan_edge.export import onnx_format  # onnxruntime, the [export] extra

        return [name for name, _ in onnx_format.rank_sensitive_nodes(fp32_path, calibration)]

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        embed_onnx(path, manifest)

    def read_manifest(self, path: Path) -> dict[str, Any]:
        return read_onnx_manifest(path)

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        from nightscan_edge.runtime.onnx_runner import OnnxRunner  # onnxruntime, the [export] extra

        return OnnxRunner(path, manifest, threads)


ONNX = register_format(
    OnnxFormat(
        "onnx",
        ".onnx",
        "onnxruntime",
        True,
        EXPORT_EXTRA,
        ("onnx", "onnxscript", "onnxruntime"),
        "ONNX opset 18; ONNX Runtime on Android/iOS/desktop/web; INT8 = static QDQ per-channel",
        manifest_location='ONNX Runtime: `session.get_modelmeta().custom_metadata_map["nightscan_manifest"]` (JSON)',
        rank=10,  # first: runs everywhere and is the parity reference
    )
)
