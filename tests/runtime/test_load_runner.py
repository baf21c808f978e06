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


@pytest.mark.skipif(platform.system() == "Darwin", reason="Core ML predicts on macOS")
def test_coreml_needs_macos(tmp_path):
    import json

    from coremltools.proto import Model_pb2

    from nightscan_edge.export.manifest import MANIFEST_KEY, coreml_spec_path

    package = tmp_path / "model.mlpackage"
    spec_file = coreml_spec_path(package)
    spec_file.parent.mkdir(parents=True)
    spec = Model_pb2.Model()
    spec.description.metadata.userDefined[MANIFEST_KEY] = json.dumps({"labels": ["a"], "format": "coreml"})
    spec_file.write_bytes(spec.SerializeToString())
    with pytest.raises(RuntimeUnavailableError, match="Core ML models run only on macOS"):
        load_runner(package)
