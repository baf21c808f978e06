"""A quiet CLI by default: library chatter filtered line by line, tables within 80 columns, honest exit codes."""

from __future__ import annotations

import os
import warnings
from types import SimpleNamespace

import pytest

from nightscan_edge import quiet


@pytest.fixture(autouse=True)
def _restore_environment(monkeypatch):
    """quiet_libraries sets process-wide variables; put each back as it was after the test."""
    for name in (quiet.VERBOSE_ENV, "TQDM_DISABLE", *quiet.QUIET_ENVIRONMENT):
        monkeypatch.setenv(name, os.environ.get(name, ""))
        if not os.environ[name]:
            monkeypatch.delenv(name)


def test_known_library_warnings_are_hidden_unless_verbose():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.quiet_libraries()
        warnings.warn("Checkpoint directory /x exists and is not empty.", UserWarning, stacklevel=1)
        warnings.warn("something new from a library", UserWarning, stacklevel=1)  # unknown: still shown
    assert [str(w.message) for w in caught] == ["something new from a library"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet.quiet_libraries(show=True)
        warnings.warn("Checkpoint directory /x exists and is not empty.", UserWarning, stacklevel=1)
    assert len(caught) == 1 and os.environ[quiet.VERBOSE_ENV] == "1"


def test_native_banners_are_dropped_and_everything_else_passes(capfd):
    with quiet.native_noise_filtered():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\n")
        os.write(2, b"[cpuinfo_utils.cpp:71] Reading file /sys/devices/soc0/image_version\n")
        os.write(2, b"a real problem\n")
    assert capfd.readouterr().err == "a real problem\n"


def test_models_table_fits_80_columns_without_cutting_names(monkeypatch, capsys):
    from nightscan_edge.commands import models

    row = {
        "name": "mobilenet_v3_small_photo",
        "input_kind": "image",
        "tier": "server",
        "budget_mb": 200,
        "params": 11_177_538,
        "model_size_mb": 42.68,
        "int8_size_mb": 10.69,
        "flops": 3_627_100_000,
        "mobile_compatible": False,
        "mobile_issues": ["FP32 size 42.7 MB exceeds 10 MB for on-device use"],
        "licence": None,
    }
    monkeypatch.setattr(models, "catalogue", lambda num_classes: [row])
    monkeypatch.setenv("COLUMNS", "80")
    assert models.run(SimpleNamespace(num_classes=6, json=False)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert any("mobilenet_v3_small_photo" in line and "11.2 M" in line for line in lines)
    assert any("exceeds 10 MB" in line for line in lines)


def _report(int8_statuses, samples="validation split (40 inputs)"):
    artifacts = [SimpleNamespace(format="onnx", precision="fp32", ok=True)]
    artifacts += [SimpleNamespace(format=f, precision="int8", ok=ok) for f, ok in int8_statuses]
    return SimpleNamespace(artifacts=artifacts, samples=samples, ok=True)


def test_export_exit_problems_name_what_failed():
    from nightscan_edge.commands.export import outcome_problems

    assert outcome_problems(_report([("onnx", True), ("tflite", False)]), "/data/x") == []
    all_rejected = outcome_problems(_report([("onnx", False), ("tflite", False)]), "/data/x")
    assert len(all_rejected) == 1 and "every INT8 file was rejected (onnx, tflite)" in all_rejected[0]
    moved = outcome_problems(_report([], samples="generated (16 inputs; run data unavailable)"), "/data/night")
    assert len(moved) == 1 and moved[0].startswith("/data/night is gone")


@pytest.mark.parametrize("argv", [["--verbose", "models", "--json"]])
def test_verbose_is_a_global_flag(argv):
    from nightscan_edge.cli import build_parser

    args = build_parser().parse_args(argv)
    assert args.verbose and args.command == "models"
