"""The manifest: one dict describing an exported model, embedded in every artifact and written beside it.

Where it lives inside each format (so a single file on a phone is self-describing):

* ONNX -- ``metadata_props["nightscan_manifest"]`` (JSON), as Ultralytics stores its metadata.
* LiteRT (.tflite) and ExecuTorch (.pte) -- a zip archive appended to the file holding ``manifest.json`` and
  ``labels.txt``. This is the convention of the TFLite Metadata writer (associated files are a zip
  appended to the flatbuffer); both runtimes read the model through offsets from the start of the file and
  ignore trailing bytes, and any zip reader finds the archive from the end of the file.
* Core ML (.mlpackage) -- ``user_defined_metadata["nightscan_manifest"]`` of the model spec (plus the class
  labels of the classifier output and the short description fields Xcode shows).
"""
from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

from nightscan_edge import __version__
from nightscan_edge.export.errors import ManifestError

MANIFEST_KEY = "nightscan_manifest"
MANIFEST_FILE = "manifest.json"
LABELS_FILE = "labels.txt"


def build_manifest(*, format_name: str, precision: str, model_name: str, run_id: str, labels: list[str],
                   spec: dict[str, Any], input_name: str, input_shape: list[int], output_name: str,
                   temperature: float, export_id: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The keys of docs/architecture.md; ``input.shape`` has -1 for a dynamic batch."""
    layout = "waveform (batch, samples) float32 mono at spec.sample_rate" if spec.get("kind") == "audio" else "NCHW"
    manifest = {
        "format": format_name,
        "precision": precision,
        "model_name": model_name,
        "run_id": run_id,
        "export_id": export_id,
        "labels": list(labels),
        "input": {"name": input_name, "shape": list(input_shape), "dtype": "float32", "layout": layout,
                  "spec": spec},
        "output": {"name": output_name, "shape": [input_shape[0], len(labels)], "meaning": "probabilities",
                   "temperature_applied": True},
        # The model already returns softmax(logits / temperature): consumers must not apply it again.
        "temperature": float(temperature),
        "package_version": __version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "parity": None,
    }
    manifest.update(extra or {})
    return manifest


def manifest_json(manifest: dict[str, Any]) -> str:
    return json.dumps(manifest, indent=2, sort_keys=False)


# ---------------------------------------------------------------- appended zip (.tflite, .pte)
def _payload_length(data: bytes) -> int:
    """Length of the model bytes before an appended zip (the whole file when there is none)."""
    if not zipfile.is_zipfile(io.BytesIO(data)):
        return len(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        infos = archive.infolist()
        return min(info.header_offset for info in infos) if infos else len(data)


def embed_appended_zip(path: Path, manifest: dict[str, Any]) -> None:
    """Replace any appended archive of ``path`` with one holding manifest.json and labels.txt."""
    data = path.read_bytes()
    payload = data[: _payload_length(data)]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr(MANIFEST_FILE, manifest_json(manifest))
        archive.writestr(LABELS_FILE, "\n".join(manifest["labels"]) + "\n")
    path.write_bytes(payload + buffer.getvalue())


def strip_appended_zip(data: bytes) -> bytes:
    """The bare model bytes (for tools that re-read the flatbuffer, e.g. a quantizer)."""
    return data[: _payload_length(data)]


def _read_appended_zip(path: Path) -> dict[str, Any]:
    if not zipfile.is_zipfile(path):
        raise ManifestError(f"{path.name} has no appended manifest archive")
    with zipfile.ZipFile(path) as archive:
        if MANIFEST_FILE not in archive.namelist():
            raise ManifestError(f"{path.name} has an appended archive without {MANIFEST_FILE}")
        return json.loads(archive.read(MANIFEST_FILE))


# ---------------------------------------------------------------- ONNX
def embed_onnx(path: Path, manifest: dict[str, Any]) -> None:
    import onnx

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


def _read_onnx(path: Path) -> dict[str, Any]:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as error:  # onnx raises DecodeError/ValidationError subclasses of several bases
        raise ManifestError(f"{path.name} is not a readable ONNX model ({error})") from error
    props = {p.key: p.value for p in model.metadata_props}
    if MANIFEST_KEY not in props:
        raise ManifestError(f"{path.name} has no '{MANIFEST_KEY}' metadata")
    return json.loads(props[MANIFEST_KEY])


# ---------------------------------------------------------------- Core ML
def coreml_spec_path(package: Path) -> Path:
    return package / "Data" / "com.apple.CoreML" / "model.mlmodel"


def _read_coreml(path: Path) -> dict[str, Any]:
    spec_file = coreml_spec_path(path)
    if not spec_file.is_file():
        raise ManifestError(f"{path.name} is not a Core ML package (no {spec_file.relative_to(path)})")
    from coremltools.proto import Model_pb2

    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    metadata = dict(spec.description.metadata.userDefined)
    if MANIFEST_KEY not in metadata:
        raise ManifestError(f"{path.name} has no '{MANIFEST_KEY}' user metadata")
    return json.loads(metadata[MANIFEST_KEY])


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest embedded in an artifact (.onnx, .tflite, .mlpackage, .pte); ``ManifestError`` if none."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    suffix = path.suffix.lower()
    try:
        if suffix == ".onnx":
            return _read_onnx(path)
        if suffix in (".tflite", ".pte"):
            return _read_appended_zip(path)
        if suffix == ".mlpackage":
            return _read_coreml(path)
    except (json.JSONDecodeError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ManifestError(f"{path.name}: embedded manifest is corrupt ({error}); re-export the model") from error
    raise ManifestError(f"{path.name}: unknown model file type '{suffix}'; expected .onnx, .tflite, .mlpackage or .pte")
