"""bench and check on a real export (tiny model, ONNX Runtime): files, figures and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.bench.conftest import make_tiny_run

from nightscan_edge import cli
from nightscan_edge.bench import BenchResult

FAST = ["--threads", "1", "--warmup", "1", "--iterations", "3", "--quiet"]


@pytest.fixture
def only_bench_commands(monkeypatch):
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("bench", "check"))


@pytest.mark.slow
def test_bench_and_check_a_real_onnx_export(tmp_path, capsys, only_bench_commands):
    pytest.importorskip("onnxruntime")
    from nightscan_edge.export import export_run

    run_dir = make_tiny_run(tmp_path)
    report = export_run(run_dir, ["onnx"])
    assert report.artifact("onnx").ok

    out = tmp_path / "bench"
    assert cli.main(["bench", str(run_dir), *FAST, "--out", str(out)]) == 0
    result = BenchResult.read(out / "bench.json")
    assert [a.name for a in result.artifacts] == ["pytorch (eager)", "model.onnx"]
    onnx = result.artifacts[1]
    assert onnx.status == "ok" and onnx.dynamic_batch is True
    assert onnx.size_mb == pytest.approx((report.out_dir / "model.onnx").stat().st_size / 2**20)
    assert onnx.latency[0].threads == 1 and onnx.latency[0].p50_ms > 0
    assert (out / "bench.md").is_file() and (out / "bench.png").is_file()
    assert "model.onnx" in capsys.readouterr().out

    # a bundle has no checkpoint: no eager baseline, FLOPs from the manifest's architecture
    bundle_out = tmp_path / "bundle-bench"
    assert cli.main(["bench", str(report.bundle), *FAST, "--out", str(bundle_out)]) == 0
    bundled = BenchResult.read(bundle_out / "bench.json")
    assert [a.name for a in bundled.artifacts] == ["model.onnx"] and "manifest" in bundled.flops_note
    assert cli.main(["bench", str(report.bundle), *FAST, "--run", str(run_dir), "--out", str(bundle_out)]) == 0
    with_run = BenchResult.read(bundle_out / "bench.json")  # --run brings back the baseline
    assert [a.name for a in with_run.artifacts] == ["pytorch (eager)", "model.onnx"]
    assert "checkpoint" in with_run.flops_note
    assert cli.main(["bench", str(report.bundle), *FAST, "--run", str(tmp_path)]) == 2
    assert "not a training run folder" in capsys.readouterr().err

    passing, failing = tmp_path / "pass.yaml", tmp_path / "fail.yaml"
    passing.write_text("max_mb: 5\nmax_latency_ms: 10000\nrequire_formats: [onnx]\n")
    failing.write_text("max_mb: 0.001\n")
    capsys.readouterr()
    assert cli.main(["check", str(run_dir), "--budget", str(passing), *FAST]) == 0
    assert cli.main(["check", str(run_dir), "--budget", str(failing), *FAST]) == 1
    assert "max_mb" in capsys.readouterr().out


def test_bench_cli_input_errors(tmp_path, capsys, only_bench_commands):
    run_dir = make_tiny_run(tmp_path)
    assert cli.main(["bench", str(run_dir), "--quiet"]) == 2
    assert "has no exports; run `nightscan-edge export" in capsys.readouterr().err
    assert cli.main(["bench", str(tmp_path / "nothing"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["bench", "--quiet"]) == 2
    assert "give a run folder" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["bench", str(run_dir), "--threads", "one"])
    assert "thread counts are positive integers" in capsys.readouterr().err


def test_default_out_dir_is_beside_the_files(tmp_path):
    from nightscan_edge.commands.bench import default_out_dir

    export_dir = tmp_path / "exports" / "e1"
    export_dir.mkdir(parents=True)
    (export_dir / "manifest.json").write_text("{}")
    assert default_out_dir(export_dir) == export_dir
    assert default_out_dir(tmp_path / "bundle.zip") == tmp_path / "bundle-bench"
    assert default_out_dir(Path(export_dir / "model.onnx")) == export_dir / "model-bench"
