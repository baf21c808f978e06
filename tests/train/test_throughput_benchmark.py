"""``benchmarks/train_throughput.py`` where ``torch.compile`` cannot work: the compile rows say so, nothing crashes."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[2]


def _benchmark():
    # A benchmark imports its sibling modules (bench_common, train_throughput_rates) as a script would.
    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    spec = importlib.util.spec_from_file_location("train_throughput", ROOT / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compile_problem_is_one_line_when_torch_compile_fails(monkeypatch):
    benchmark = _benchmark()

    def no_compiler(function, **kwargs):
        raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found\n(long traceback follows)")

    monkeypatch.setattr(torch, "compile", no_compiler)
    assert benchmark.compile_problem() == (
        "torch.compile does not work here (RuntimeError: InvalidCxxCompiler: No working C++ compiler found)"
    )


def test_compile_rows_and_notes_say_why_instead_of_crashing(monkeypatch, tmp_path, capsys):
    benchmark = _benchmark()
    monkeypatch.setattr(benchmark, "compile_problem", lambda: "torch.compile does not work here (no compiler)")
    out = tmp_path / "throughput.json"
    argv = ["--models", "ultralight_audio", "--threads", "1", "--variants", "compile", "--out", str(out)]
    assert benchmark.main(argv) == 0
    result = json.loads(out.read_text())
    assert result["figures"] == [
        {
            "model": "ultralight_audio",
            "device": "cpu",
            "threads": 1,
            "variant": "compile",
            "note": "torch.compile does not work here (no compiler)",
        }
    ]
    assert result["notes"] == ["compile rows: torch.compile does not work here (no compiler)."]
    assert "no GPU" in result["machine"] or "gpu" in result["machine"]
    assert "does not work here" in capsys.readouterr().out
