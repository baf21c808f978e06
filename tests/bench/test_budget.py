"""The budget gate: limits, per-class INT8 drops, strict budget files, CLI exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from nightscan_edge import cli
from nightscan_edge.bench import BenchResult, BudgetError, check_budget, load_budget, parse_budget
from nightscan_edge.bench.result import ArtifactResult, EvaluationSet, HostInfo, LatencyStats
from nightscan_edge.bench.targets import SEED_TARGETS
from nightscan_edge.models import MODELS

REPO_ROOT = Path(__file__).resolve().parents[2]


def artifact(
    name: str, format_name: str, precision: str, size_mb: float, p50_ms: float, accuracy: float, **extra
) -> ArtifactResult:
    return ArtifactResult(
        name=name,
        format=format_name,
        precision=precision,
        path=name,
        size_mb=size_mb,
        status="ok",
        latency=[
            LatencyStats(
                threads=1, p50_ms=p50_ms, p95_ms=p50_ms * 1.2, max_ms=p50_ms * 1.5, mean_ms=p50_ms, iterations=10
            )
        ],
        accuracy=accuracy,
        macro_f1=accuracy - 0.01,
        peak_memory_mb=20.0,
        **extra,
    )


def make_result(*artifacts: ArtifactResult, model_name: str = "ultralight_audio") -> BenchResult:
    return BenchResult(
        created="2026-11-28T00:00:00+00:00",
        source="test",
        model_name=model_name,
        input_kind="audio",
        labels=["bat", "owl"],
        run_id="r",
        model_flops=10_000_000,
        frontend_flops=1_000_000,
        flops_note="test",
        threads=[1],
        warmup=1,
        iterations=10,
        host=HostInfo(
            cpu="cpu", logical_cores=2, usable_cores=2, platform="linux", torch_version="2", gemm_gflops={1: 50.0}
        ),
        evaluation_set=EvaluationSet(source="test", samples=100),
        artifacts=list(artifacts),
        device_estimates=[],
        target=SEED_TARGETS["audio"],
    )


GOOD = make_result(
    ArtifactResult(name="pytorch (eager)", format="pytorch", precision="fp32", path=None, size_mb=50.0, status="ok"),
    artifact("model.onnx", "onnx", "fp32", 0.9, 8.0, 0.90, per_class_recall={"bat": 0.9, "owl": 0.9}),
    artifact(
        "model_int8.onnx",
        "onnx",
        "int8",
        0.3,
        6.0,
        0.89,
        per_class_recall={"bat": 0.9, "owl": 0.88},
        int8_accuracy_drop_points=1.0,
        int8_class_drop_points={"bat": 0.0, "owl": 2.0},
    ),
)
LIMITS = {"max_mb": 1.0, "max_latency_ms": 150, "min_accuracy_pct": 85, "max_int8_class_drop_points": 3}


def test_within_budget_has_no_violations():
    assert check_budget(GOOD, parse_budget(LIMITS | {"model": "ultralight_audio", "require_formats": ["onnx"]})) == []


def test_the_eager_baseline_is_never_gated():
    assert check_budget(GOOD, parse_budget({"max_mb": 1.0})) == []  # eager is 50 MB of FP32 weights


def test_each_broken_limit_is_reported_with_its_figures():
    violations = check_budget(
        GOOD,
        parse_budget(
            {
                "max_mb": 0.5,
                "max_latency_ms": 7,
                "max_p95_latency_ms": 100,
                "min_accuracy_pct": 89.5,
                "max_int8_class_drop_points": 1.5,
                "max_peak_memory_mb": 10,
            }
        ),
    )
    found = {(v.artifact, v.check) for v in violations}
    assert found == {
        ("model.onnx", "max_mb"),
        ("model.onnx", "max_latency_ms"),
        ("model.onnx", "max_peak_memory_mb"),
        ("model_int8.onnx", "min_accuracy_pct"),
        ("model_int8.onnx", "max_int8_class_drop_points (owl)"),
        ("model_int8.onnx", "max_peak_memory_mb"),
    }
    size = next(v for v in violations if v.check == "max_mb")
    assert (size.limit, size.measured) == ("≤ 0.5 MB", "0.90 MB")


def test_formats_and_precisions_narrow_the_gate():
    assert check_budget(GOOD, parse_budget({"max_mb": 0.5, "precisions": ["int8"]})) == []
    missing = check_budget(GOOD, parse_budget({"max_mb": 0.5, "formats": ["tflite"], "require_formats": ["tflite"]}))
    assert {v.check for v in missing} == {"require_formats", "formats/precisions"}


def test_a_format_the_budget_does_not_ask_for_is_not_gated():
    """The README demo exports all four formats but its budget requires onnx and tflite only."""
    failed_coreml = ArtifactResult(
        name="model_int8.mlpackage",
        format="coreml",
        precision="int8",
        path="x",
        size_mb=9.0,
        status="failed",
        error="rejected by the INT8 gate",
    )
    result = make_result(*GOOD.artifacts, failed_coreml)
    assert check_budget(result, parse_budget(LIMITS | {"require_formats": ["onnx"]})) == []
    gated_everything = check_budget(result, parse_budget(LIMITS))  # no format named: every file is gated
    assert {v.artifact for v in gated_everything} == {"model_int8.mlpackage"}


def test_unmeasured_figures_and_failed_files_are_violations():
    failed = ArtifactResult(
        name="model.pte",
        format="executorch",
        precision="fp32",
        path="x",
        size_mb=0.4,
        status="failed",
        error="RuntimeError: boom",
    )
    no_accuracy = artifact("model.tflite", "tflite", "fp32", 0.9, 8.0, 0.0).model_copy(update={"accuracy": None})
    result = make_result(failed, no_accuracy)
    violations = check_budget(result, parse_budget({"min_accuracy_pct": 80}))
    assert [(v.artifact, v.check) for v in violations] == [("model.pte", "runs"), ("model.tflite", "min_accuracy_pct")]
    assert "pass --data" in violations[1].measured
    assert check_budget(result, parse_budget({"max_mb": 1, "allow_failed": True})) == []


def test_wrong_model_is_a_violation():
    assert [v.check for v in check_budget(GOOD, parse_budget({"model": "lightweight_audio"}))] == ["model"]


@pytest.mark.parametrize(
    "content, message",
    [
        ("max_mb: 3\nmax_latncy_ms: 100\n", "unknown key 'max_latncy_ms' (known keys: model, formats"),
        ("max_mb: three\n", "max_mb: Input should be a valid number"),
        ("min_accuracy_pct: 0.85\n", "looks like a fraction, write 85"),
        ("max_mb: -1\n", "max_mb: Input should be greater than 0"),
        ("- max_mb: 3\n", "must be a YAML mapping"),
        ("max_mb: [3\n", "is not valid YAML"),
        ("formats: [onnx]\n", "sets no limit"),
        ("", "must be a YAML mapping"),
    ],
)
def test_bad_budget_files_fail_clearly(tmp_path, content, message):
    path = tmp_path / "budget.yaml"
    path.write_text(content)
    with pytest.raises(BudgetError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        load_budget(path)


def test_missing_budget_file(tmp_path):
    with pytest.raises(BudgetError, match="not found"):
        load_budget(tmp_path / "nope.yaml")


def test_example_budgets_for_the_seed_models_parse():
    budgets = sorted((REPO_ROOT / "budgets").glob("*.yaml"))
    assert {p.stem for p in budgets} >= {"ultralight_audio", "lightweight_audio", "mobilenet_v3_small_photo"}
    for path in budgets:
        budget = load_budget(path)
        if path.stem in MODELS:  # a release budget for one seed model names it and sets every limit
            assert budget.model == path.stem and budget.max_mb and budget.max_latency_ms and budget.min_accuracy_pct
        else:  # a phone budget for `tune` (any model): no model named, size and latency limits set
            assert budget.model is None and budget.max_mb and budget.max_latency_ms


@pytest.fixture
def only_bench_commands(monkeypatch):
    """The CLI with just bench/check, so these tests do not depend on other commands' modules."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("bench", "check"))


def test_check_cli_exit_codes(tmp_path, capsys, only_bench_commands):
    bench_json = tmp_path / "bench.json"
    bench_json.write_text(GOOD.to_json())
    passing, failing, bad = tmp_path / "pass.yaml", tmp_path / "fail.yaml", tmp_path / "bad.yaml"
    passing.write_text("max_mb: 1\nmax_latency_ms: 150\n")
    failing.write_text("max_mb: 0.5\n")
    bad.write_text("max_size: 1\n")
    assert cli.main(["check", "--from-bench", str(bench_json), "--budget", str(passing)]) == 0
    assert "within budget" in capsys.readouterr().out
    assert cli.main(["check", "--from-bench", str(bench_json), "--budget", str(failing)]) == 1
    out = capsys.readouterr().out
    assert "1 budget violation" in out and "model.onnx" in out and "0.90 MB" in out
    assert cli.main(["check", "--from-bench", str(bench_json), "--budget", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: budget file") and "unknown key 'max_size'" in err and err.count("\n") == 1


def test_check_cli_input_errors(tmp_path, capsys, only_bench_commands):
    budget = tmp_path / "b.yaml"
    budget.write_text("max_mb: 1\n")
    assert cli.main(["check", "--from-bench", str(tmp_path / "missing.json"), "--budget", str(budget)]) == 2
    assert "run `nightscan-edge bench` first" in capsys.readouterr().err
    assert cli.main(["check", str(tmp_path / "no-such-run"), "--budget", str(budget)]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "not-json.json").write_text("{}")
    assert cli.main(["check", "--from-bench", str(tmp_path / "not-json.json"), "--budget", str(budget)]) == 2
    assert "not a bench.json" in capsys.readouterr().err
