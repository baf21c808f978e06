"""Fixtures for bench tests: a tiny audio run, fake artifact files with manifests, and fake runners whose
predictions are known, so accuracy, INT8 drops and the budget gate can be asserted exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nightscan_edge.bench.options import Samples
from nightscan_edge.bench.sources import Artifact, BenchSource
from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec

LABELS = ["bat", "owl", "frog"]
TINY_SPEC = AudioSpec(sample_rate=8000, clip_samples=63 * 64, n_fft=256, hop_length=64, n_mels=32)
TINY_OPTIONS = {"stem_channels": 8, "blocks": [[8, 2], [16, 2]]}  # keeps the eager baseline fast


class FakeRunner:
    """Predicts the class encoded in the first sample of each input; ``confuse`` maps classes to others."""

    def __init__(self, dynamic_batch: bool = True, confuse: dict[int, int] | None = None) -> None:
        self.dynamic_batch = dynamic_batch
        self.confuse = confuse or {}

    def predict(self, x: np.ndarray) -> np.ndarray:
        if not self.dynamic_batch and x.shape[0] != 1:
            raise ValueError(f"fixed batch 1; got {x.shape[0]}")
        classes = np.clip(np.rint(x[:, 0]).astype(int), 0, len(LABELS) - 1)
        classes = np.array([self.confuse.get(int(c), int(c)) for c in classes])
        return np.eye(len(LABELS), dtype=np.float32)[classes]


class BrokenRunner:
    dynamic_batch = True

    def predict(self, x: np.ndarray) -> np.ndarray:
        raise RuntimeError("this runtime needs macOS")


def make_samples(per_class: int = 4) -> Samples:
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(len(LABELS)), per_class)
    inputs = 0.01 * rng.standard_normal((labels.size, TINY_SPEC.clip_samples)).astype(np.float32)
    inputs[:, 0] = labels
    return Samples(inputs, labels.astype(np.int64), "generated")


def manifest(format_name: str, precision: str) -> dict:
    return {
        "format": format_name,
        "precision": precision,
        "model_name": "ultralight_audio",
        "run_id": "tiny",
        "model_options": TINY_OPTIONS,
        "labels": LABELS,
        "input": {
            "name": "waveform",
            "shape": [-1, TINY_SPEC.clip_samples],
            "dtype": "float32",
            "layout": "NC",
            "spec": TINY_SPEC.model_dump(mode="json"),
        },
        "output": {"name": "probabilities", "meaning": "probabilities"},
        "temperature": None,
    }


def make_tiny_run(root: Path) -> Path:
    run_dir = root / "runs" / "tiny"
    model = create_model("ultralight_audio", len(LABELS), spec=TINY_SPEC, **TINY_OPTIONS)
    save_standalone_checkpoint(run_dir / "best.ckpt", model, LABELS, run_id="tiny", model_options=TINY_OPTIONS)
    return run_dir


def make_fake_source(run_dir: Path) -> tuple[BenchSource, dict[str, object]]:
    """Three fake files (sizes 2 MB, 0.5 MB, 1 MB) with runners: FP32 perfect, INT8 confuses owl->frog,
    a fixed-batch TFLite, plus a broken Core ML package."""
    export_dir = run_dir / "exports" / "e1"
    export_dir.mkdir(parents=True)
    specs = {
        "model.onnx": ("onnx", "fp32", 2 * 1024 * 1024, FakeRunner()),
        "model_int8.onnx": ("onnx", "int8", 512 * 1024, FakeRunner(confuse={1: 2})),
        "model.tflite": ("tflite", "fp32", 1024 * 1024, FakeRunner(dynamic_batch=False)),
        "model.mlpackage": ("coreml", "fp32", 4096, BrokenRunner()),
    }
    artifacts, runners = [], {}
    for name, (format_name, precision, size, runner) in specs.items():
        path = export_dir / name
        if name.endswith(".mlpackage"):
            path.mkdir()
            (path / "weights.bin").write_bytes(b"\0" * size)
        else:
            path.write_bytes(b"\0" * size)
        artifacts.append(Artifact(path, manifest(format_name, precision)))
        runners[str(path)] = runner
    return BenchSource(f"export {export_dir}", artifacts, run_dir), runners


@pytest.fixture
def tiny_run(tmp_path: Path) -> Path:
    return make_tiny_run(tmp_path)


@pytest.fixture
def fake_source(tiny_run: Path) -> tuple[BenchSource, dict[str, object]]:
    return make_fake_source(tiny_run)
