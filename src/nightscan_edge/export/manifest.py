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


def build_manifest(
    *,
    format_name: str,
    precision: str,
    model_name: str,
    run_id: str,
    labels: list[str],
    spec: dict[str, Any],
    input_name: str,
    input_shape: list[int],
    output_name: str,
    temperature: float,
    export_id: str,
    extra: dict[str, Any] | None = None,
    licence: str | None = None,
) -> dict[str, Any]:
    """The keys of docs/architecture.md; ``input.shape`` has -1 for a dynamic batch."""
    layout = "waveform (batch, samples) float32 mono at spec.sample_rate" if spec.get("kind") == "audio" else "NCHW"
    manifest = {
        "format": format_name,
        "precision": precision,
        "model_name": model_name,
        "run_id": run_id,
        "export_id": export_id,
        "labels": list(labels),
        "input": {"name": input_name, "shape": list(input_shape), "dtype": "float32", "layout": layout, "spec": spec},
        "output": {
            "name": output_name,
            "shape": [input_shape[0], len(labels)],
            "meaning": "probabilities",
            "temperature_applied": True,
        },
        # The model already returns softmax(logits / temperature): consumers must not apply it again.
        "temperature": float(temperature),
        # Terms inherited from pretrained weights (a BirdNET-distilled student: CC BY-NC-SA 4.0); None: Apache-2.0.
        "licence": licence,
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


# Field numbers of Core ML's Model.proto: Model.description = 2, ModelDescription.metadata = 100,
# Metadata.userDefined = 100 (map<string, string>: entry key = 1, value = 2).
_DESCRIPTION, _METADATA, _USER_DEFINED = 2, 100, 100


def _protobuf_fields(data: bytes):
    """``(field_number, wire_type, value)`` of one protobuf message (varint, 64/32-bit and bytes fields)."""
    position = 0

    def varint() -> int:
        nonlocal position
        result = shift = 0
        while True:
            byte = data[position]
            position += 1
            result |= (byte & 0x7F) << shift
            if byte < 0x80:
                return result
            shift += 7

    while position < len(data):
        key = varint()
        number, wire_type = key >> 3, key & 7
        if wire_type == 0:
            yield number, wire_type, varint()
        elif wire_type == 1:
            yield number, wire_type, data[position : position + 8]
            position += 8
        elif wire_type == 2:
            length = varint()
            yield number, wire_type, data[position : position + length]
            position += length
        elif wire_type == 5:
            yield number, wire_type, data[position : position + 4]
            position += 4
        else:
            raise ManifestError(f"unsupported protobuf wire type {wire_type}")


def _submessages(data: bytes, number: int):
    return [value for n, wire, value in _protobuf_fields(data) if n == number and wire == 2]


def coreml_user_metadata(spec_bytes: bytes) -> dict[str, str]:
    """``description.metadata.userDefined`` of a Core ML spec, read without importing coremltools.

    (Importing coremltools pulls in its converters and takes seconds to minutes; reading a manifest must
    stay cheap for the benchmark and predict commands, which list many artifacts.)
    """
    entries: dict[str, str] = {}
    try:
        for description in _submessages(spec_bytes, _DESCRIPTION):
            for metadata in _submessages(description, _METADATA):
                for entry in _submessages(metadata, _USER_DEFINED):
                    fields = {n: v for n, wire, v in _protobuf_fields(entry) if wire == 2}
                    entries[fields.get(1, b"").decode()] = fields.get(2, b"").decode()
    except IndexError as error:
        raise ManifestError(f"truncated Core ML spec ({error})") from error
    return entries


def _read_coreml(path: Path) -> dict[str, Any]:
    spec_file = coreml_spec_path(path)
    if not spec_file.is_file():
        raise ManifestError(f"{path.name} is not a Core ML package (no {spec_file.relative_to(path)})")
    metadata = coreml_user_metadata(spec_file.read_bytes())
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
