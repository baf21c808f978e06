import platform

import pytest

from nightscan_edge.export import ExportError, ManifestError
from nightscan_edge.runtime import RuntimeUnavailableError, load_runner


def test_unknown_suffix_is_refused(tmp_path):
    path = tmp_path / "model.h5"
    path.write_bytes(b"x")
    with pytest.raises(ExportError, match="not an exported model"):
        load_runner(path)


def test_tflite_without_manifest_is_refused(tmp_path):
    path = tmp_path / "model.tflite"
    path.write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 32)
    with pytest.raises(ManifestError):
        load_runner(path)


def _length_delimited(number: int, payload: bytes) -> bytes:
    assert len(payload) < 128 * 128
    length = bytes([len(payload)]) if len(payload) < 128 else bytes([len(payload) % 128 | 0x80, len(payload) // 128])
    key = number << 3 | 2
    return (bytes([key]) if key < 128 else bytes([key % 128 | 0x80, key // 128])) + length + payload


def _coreml_spec_with_metadata(key: str, value: str) -> bytes:
    """Model{description{metadata{userDefined{key: value}}}} in protobuf wire format (no coremltools needed)."""
    entry = _length_delimited(1, key.encode()) + _length_delimited(2, value.encode())
    return _length_delimited(2, _length_delimited(100, _length_delimited(100, entry)))


def test_coreml_manifest_is_read_without_coremltools(tmp_path):
    import json

    from nightscan_edge.export import read_manifest
    from nightscan_edge.export.manifest import MANIFEST_KEY, coreml_spec_path

    package = tmp_path / "model.mlpackage"
    spec_file = coreml_spec_path(package)
    spec_file.parent.mkdir(parents=True)
    spec_file.write_bytes(_coreml_spec_with_metadata(MANIFEST_KEY, json.dumps({"labels": ["a"], "format": "coreml"})))
    assert read_manifest(package)["labels"] == ["a"]
    if platform.system() != "Darwin":
        with pytest.raises(RuntimeUnavailableError, match="Core ML models run only on macOS"):
            load_runner(package)
    spec_file.write_bytes(_coreml_spec_with_metadata("other", "x"))
    with pytest.raises(ManifestError, match="no 'nightscan_manifest' user metadata"):
        read_manifest(package)
