"""Where a manifest sits inside a file, for the formats that share a container convention.

* Appended zip (LiteRT .tflite, ExecuTorch .pte): a zip archive appended to the file holding
  ``manifest.json`` and ``labels.txt``. This is the convention of the TFLite Metadata writer (associated
  files are a zip appended to the flatbuffer); both runtimes read the model through offsets from the start
  of the file and ignore trailing bytes, and any zip reader finds the archive from the end of the file.
* Core ML user metadata: ``description.metadata.userDefined`` of the package's protobuf spec, read here
  without coremltools (importing it takes seconds to minutes; listing artifacts must stay cheap).
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nightscan_edge.artifact.backend import ArtifactFormat
from nightscan_edge.artifact.errors import ManifestError
from nightscan_edge.artifact.manifest import (
    LABELS_FILE,
    MANIFEST_FILE,
    MANIFEST_KEY,
    manifest_json,
    parse_manifest_json,
)


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


def read_appended_zip(path: Path) -> dict[str, Any]:
    if not zipfile.is_zipfile(path):
        raise ManifestError(f"{path.name} has no appended manifest archive")
    with zipfile.ZipFile(path) as archive:
        if MANIFEST_FILE not in archive.namelist():
            raise ManifestError(f"{path.name} has an appended archive without {MANIFEST_FILE}")
        return parse_manifest_json(archive.read(MANIFEST_FILE), path.name)


class AppendedZipFormat(ArtifactFormat):
    """A format whose runtime ignores trailing bytes, so its manifest rides in an appended zip."""

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        embed_appended_zip(path, manifest)

    def read_manifest(self, path: Path) -> dict[str, Any]:
        return read_appended_zip(path)


# ---------------------------------------------------------------- Core ML spec (protobuf)
def coreml_spec_path(package: Path) -> Path:
    return package / "Data" / "com.apple.CoreML" / "model.mlmodel"


# Field numbers of Core ML's Model.proto: Model.description = 2, ModelDescription.metadata = 100,
# Metadata.userDefined = 100 (map<string, string>: entry key = 1, value = 2).
_DESCRIPTION, _METADATA, _USER_DEFINED = 2, 100, 100


def _protobuf_fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
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


def _submessages(data: bytes, number: int) -> list[bytes]:
    return [value for n, wire, value in _protobuf_fields(data) if n == number and wire == 2]


def coreml_user_metadata(spec_bytes: bytes) -> dict[str, str]:
    """``description.metadata.userDefined`` of a Core ML spec, read without importing coremltools."""
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


def read_coreml_manifest(path: Path) -> dict[str, Any]:
    spec_file = coreml_spec_path(path)
    if not spec_file.is_file():
        raise ManifestError(f"{path.name} is not a Core ML package (no {spec_file.relative_to(path)})")
    metadata = coreml_user_metadata(spec_file.read_bytes())
    if MANIFEST_KEY not in metadata:
        raise ManifestError(f"{path.name} has no '{MANIFEST_KEY}' user metadata")
    return parse_manifest_json(metadata[MANIFEST_KEY], path.name)
