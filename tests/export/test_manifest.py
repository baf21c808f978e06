import json
import zipfile

import pytest

from nightscan_edge.export import ManifestError, read_manifest
from nightscan_edge.export.manifest import embed_appended_zip, strip_appended_zip


def _manifest(**extra):
    return {"format": "tflite", "labels": ["a", "b"], "parity": None, **extra}


def test_appended_zip_round_trip_and_replacement(tmp_path):
    path = tmp_path / "model.tflite"
    payload = b"TFL3" + bytes(range(256)) * 10
    path.write_bytes(payload)
    embed_appended_zip(path, _manifest())
    assert read_manifest(path)["labels"] == ["a", "b"]
    with zipfile.ZipFile(path) as archive:
        assert archive.read("labels.txt").decode() == "a\nb\n"
    embed_appended_zip(path, _manifest(parity={"max_abs_diff": 0.0}))  # re-embedding replaces, never stacks
    assert read_manifest(path)["parity"] == {"max_abs_diff": 0.0}
    assert strip_appended_zip(path.read_bytes()) == payload


def test_file_without_manifest_raises(tmp_path):
    bare = tmp_path / "model.pte"
    bare.write_bytes(b"\x00" * 64)
    with pytest.raises(ManifestError, match="no appended manifest"):
        read_manifest(bare)


def test_onnx_without_metadata_raises(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "model.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(ManifestError, match="no 'nightscan_manifest' metadata"):
        read_manifest(path)


def test_corrupt_manifest_and_unknown_suffix(tmp_path):
    path = tmp_path / "model.tflite"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("manifest.json", "{not json")
    with pytest.raises(ManifestError, match="corrupt"):
        read_manifest(path)
    other = tmp_path / "model.bin"
    other.write_text(json.dumps({}))
    with pytest.raises(ManifestError, match="unknown model file type"):
        read_manifest(other)
    with pytest.raises(FileNotFoundError):
        read_manifest(tmp_path / "missing.onnx")
