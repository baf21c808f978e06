"""The format table: one object per format, each with its whole behaviour; callers never name a format."""

import subprocess
import sys

import pytest

from nightscan_edge.artifact import (
    FORMATS,
    ArtifactFormat,
    ExportError,
    format_by_suffix,
    portable_formats,
    register_format,
)
from nightscan_edge.artifact.backend import artifact_suffixes

BEHAVIOUR = ("export", "quantize", "embed_manifest", "read_manifest", "open_runner")


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_row_implements_the_whole_behaviour(name):
    fmt = FORMATS[name]
    for method in BEHAVIOUR:
        assert getattr(type(fmt), method) is not getattr(ArtifactFormat, method), f"{name} lacks {method}"
    if not fmt.portable:  # checked structurally and gated on a stand-in at export
        assert type(fmt).check_structure is not ArtifactFormat.check_structure
        assert type(fmt).simulate_int8 is not ArtifactFormat.simulate_int8
    assert fmt.manifest_location and fmt.description and fmt.suffix.startswith(".")
    assert format_by_suffix(f"x/{fmt.artifact_name('int8')}") is fmt


def test_order_suffixes_and_portability_come_from_the_rows():
    assert artifact_suffixes() == (".onnx", ".tflite", ".mlpackage", ".pte")
    assert [f.name for f in portable_formats()] == ["onnx", "tflite", "executorch"]
    assert FORMATS["coreml"].unavailable_reason and format_by_suffix("model.h5") is None


def test_a_name_or_suffix_registered_twice_is_refused():
    onnx = FORMATS["onnx"]
    with pytest.raises(ValueError, match="already registered"):
        register_format(onnx)
    with pytest.raises(ValueError, match="already taken"):
        register_format(type(onnx)("onnx2", ".onnx", "x", True, "x", (), "x", manifest_location="x"))
    assert "onnx2" not in FORMATS


def test_base_row_says_what_is_missing(tmp_path):
    bare = ArtifactFormat("bare", ".bare", "none", False, "none", (), "a row without behaviour", manifest_location="-")
    with pytest.raises(NotImplementedError, match="bare: read manifest"):
        bare.read_manifest(tmp_path / "model.bare")


def test_table_manifest_and_runtime_import_without_torch_or_runtimes():
    code = (
        "import sys, nightscan_edge.artifact, nightscan_edge.runtime; "
        "heavy = [m for m in ('torch', 'onnx', 'onnxruntime', 'coremltools', 'executorch', 'nightscan_edge.export') "
        "if m in sys.modules]; print(heavy); sys.exit(1 if heavy else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_export_error_is_shared_by_export_and_artifact():
    from nightscan_edge.export.errors import ExportError as ExportErrorFromExport

    assert ExportErrorFromExport is ExportError
