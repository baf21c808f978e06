import importlib.util

import pytest

from nightscan_edge.export import FORMATS, ExportError, validate_formats
from nightscan_edge.export.formats import format_for_path


def test_table_lists_every_documented_format_with_suffix_runtime_and_int8():
    assert list(FORMATS) == ["onnx", "tflite", "coreml", "executorch"]
    assert {f.suffix for f in FORMATS.values()} == {".onnx", ".tflite", ".mlpackage", ".pte"}
    assert all(f.int8 and f.runtime and "nightscan-edge[export]" in f.extra for f in FORMATS.values())
    assert FORMATS["onnx"].artifact_name("int8") == "model_int8.onnx"
    assert FORMATS["coreml"].artifact_name("fp32") == "model.mlpackage"


def test_unknown_format_lists_known_ones():
    with pytest.raises(ExportError, match="unknown export format 'onx'; known: onnx, tflite, coreml, executorch"):
        validate_formats(["onx"])


def test_comma_text_and_duplicates_are_accepted_once():
    assert [f.name for f in validate_formats("onnx, ONNX,tflite")] == ["onnx", "tflite"]


def test_empty_request_fails():
    with pytest.raises(ExportError, match="no export format"):
        validate_formats([])


def test_missing_library_names_the_pip_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "coremltools" else real(name, *a))
    with pytest.raises(
        ExportError, match=r"format 'coreml' needs coremltools; install it with pip install 'nightscan-edge\[export\]'"
    ):
        validate_formats(["onnx", "coreml"])


def test_format_for_path_by_suffix():
    assert format_for_path("x/model_int8.tflite").name == "tflite"
    with pytest.raises(ExportError, match="not an exported model"):
        format_for_path("model.h5")
