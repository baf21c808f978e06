"""The benchmark loop on fake runners with known predictions: every figure asserted, failures isolated."""

from __future__ import annotations

import json

import pytest
from tests.bench.conftest import LABELS, make_fake_source, make_samples, make_tiny_run

from nightscan_edge.bench import BenchOptions, BenchResult, benchmark, render_markdown, write_reports
from nightscan_edge.bench.devices import list_device_classes

FAST = BenchOptions(threads=(1, 2), warmup=1, iterations=4, throughput_batch=4, throughput_iterations=1)


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> BenchResult:
    """One benchmark shared by the read-only tests below (it is the slow part)."""
    source, runners = make_fake_source(make_tiny_run(tmp_path_factory.mktemp("bench")))
    return benchmark(
        source, FAST, progress=False, samples=make_samples(), load_runner=lambda path, threads: runners[str(path)]
    )


def by_name(result: BenchResult, name: str):
    return next(a for a in result.artifacts if a.name == name)


def test_every_file_and_the_eager_baseline_are_measured(result):
    assert [a.name for a in result.artifacts] == [
        "pytorch (eager)",
        "model.onnx",
        "model_int8.onnx",
        "model.tflite",
        "model.mlpackage",
    ]
    assert result.threads == [1, 2]
    for artifact in result.artifacts:
        if artifact.status != "ok":
            continue
        assert [s.threads for s in artifact.latency] == [1, 2]
        for stats in artifact.latency:
            assert 0 < stats.p50_ms <= stats.p95_ms <= stats.max_ms
            assert stats.iterations == 4
            assert stats.ideal_ms == pytest.approx(result.total_flops / (result.host.gemm_gflops[stats.threads] * 1e6))
            assert stats.measured_over_ideal == pytest.approx(stats.p50_ms / stats.ideal_ms)


def test_sizes_throughput_and_batch_handling(result):
    assert by_name(result, "model.onnx").size_mb == pytest.approx(2.0)
    assert by_name(result, "model_int8.onnx").size_mb == pytest.approx(0.5)
    assert by_name(result, "model.mlpackage").size_mb == pytest.approx(4096 / 1024 / 1024)
    onnx = by_name(result, "model.onnx")
    assert onnx.dynamic_batch and all(s.throughput_per_s > 0 and s.throughput_batch == 4 for s in onnx.latency)
    tflite = by_name(result, "model.tflite")  # fixed batch 1: no throughput, accuracy still measured one by one
    assert tflite.dynamic_batch is False and all(s.throughput_per_s is None for s in tflite.latency)
    assert tflite.accuracy == 1.0


def test_accuracy_int8_drop_and_agreement(result):
    onnx, int8 = by_name(result, "model.onnx"), by_name(result, "model_int8.onnx")
    assert onnx.accuracy == 1.0 and onnx.macro_f1 == 1.0
    assert int8.accuracy == pytest.approx(2 / 3)
    assert int8.per_class_recall == {"bat": 1.0, "owl": 0.0, "frog": 1.0}
    assert int8.int8_accuracy_drop_points == pytest.approx(100 / 3)
    assert int8.int8_class_drop_points == pytest.approx({"bat": 0.0, "owl": 100.0, "frog": 0.0})
    assert onnx.int8_class_drop_points is None
    eager = by_name(result, "pytorch (eager)")  # untrained: the perfect fake agrees where eager is right
    assert onnx.agreement_with_eager == pytest.approx(eager.accuracy)


def test_a_failing_file_is_recorded_and_the_others_still_run(result):
    broken = by_name(result, "model.mlpackage")
    assert broken.status == "failed" and "needs macOS" in broken.error and broken.latency == []
    assert all(a.status == "ok" for a in result.artifacts if a is not broken)


def test_device_estimates_are_flops_over_cited_gflops(result):
    assert [e.device for e in result.device_estimates] == [d.name for d in list_device_classes()]
    for estimate in result.device_estimates:
        assert estimate.estimated_ms == pytest.approx(result.total_flops / (estimate.sustained_gflops * 1e9) * 1e3)
        assert estimate.source.startswith("https://")
    assert result.frontend_flops > 0 and result.model_flops > 0  # audio: the front-end is part of the job


def test_reports_round_trip_and_keep_estimates_apart(result, tmp_path):
    paths = write_reports(result, tmp_path / "out")
    assert BenchResult.read(paths["json"]) == result
    assert json.loads(paths["json"].read_text())["model_name"] == "ultralight_audio"
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    markdown = paths["markdown"].read_text()
    measured, estimates = markdown.split("## Device estimates (ESTIMATE — not measured)")
    assert "`model_int8.onnx`" in measured and "(estimate)" not in measured
    assert estimates.count("(estimate)") == len(result.device_estimates)
    assert "## Not measured" in measured and "needs macOS" in measured
    assert "seed targets (audio): 50–150 ms, 1–3 MB, 85–90 %" in measured
    assert "| `model_int8.onnx` | +33.3 | owl | +100.0 |" in measured


def test_plot_without_accuracy_uses_size(fake_source, tmp_path):
    source, runners = fake_source
    source.run_dir = None  # a bundle: no checkpoint, no labeled samples
    result = benchmark(
        source,
        BenchOptions(threads=(1,), warmup=0, iterations=2, throughput_iterations=1),
        progress=False,
        load_runner=lambda path, threads: runners[str(path)],
    )
    assert result.evaluation_set is None and all(a.accuracy is None for a in result.artifacts)
    assert "rebuilt from the manifest" in result.flops_note
    assert not any(a.is_baseline for a in result.artifacts)
    assert "pass --data" in render_markdown(result)
    write_reports(result, tmp_path)
    assert (tmp_path / "bench.png").stat().st_size > 1000


def test_labels_disagreeing_with_the_run_are_an_error(fake_source):
    source, runners = fake_source
    for artifact in source.artifacts:
        artifact.manifest["labels"] = list(reversed(LABELS))
    with pytest.raises(ValueError, match="re-export"):
        benchmark(
            source, FAST, progress=False, samples=make_samples(), load_runner=lambda path, threads: runners[str(path)]
        )


@pytest.mark.parametrize("options", [dict(threads=()), dict(threads=(-1,)), dict(iterations=0), dict(sample_limit=0)])
def test_bad_options_are_rejected(options):
    with pytest.raises(ValueError):
        BenchOptions(**options)
