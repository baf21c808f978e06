"""A tiny trained-looking run folder: random-weight audio model, generated tones, a real split.csv.

Random weights are enough for export/parity/manifest tests (they compare the artifact with the same
PyTorch model); the small spec (8 kHz, 2,048 samples, 32 mel bands) keeps every export fast.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.conftest import write_tone

LABELS = ["bat", "frog", "owl"]
TINY_AUDIO = {"sample_rate": 8000, "clip_samples": 2048, "n_fft": 256, "hop_length": 128, "n_mels": 32}


def make_run(
    root: Path,
    model_name: str = "lightweight_audio",
    files_per_class: int = 4,
    seed: int = 0,
    model_options: dict | None = None,
) -> Path:
    import torch

    from nightscan_edge.checkpoint import save_standalone_checkpoint
    from nightscan_edge.config import resolve_config
    from nightscan_edge.data.prepare import spec_from_config
    from nightscan_edge.models import create_model

    run_dir = root / "runs" / "tiny-run"
    data_dir = root / "data"
    rows = []
    for c, label in enumerate(LABELS):
        for i in range(files_per_class):
            path = write_tone(data_dir / label / f"{label}_{i}.wav", 400 + 900 * c + 40 * i, 0.3, 8000, seed=c * 10 + i)
            rows.append({"path": str(path), "label": label, "split": "val" if i % 2 else "train"})
    run_dir.mkdir(parents=True)
    with (run_dir / "split.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    config = resolve_config(
        {
            "model": {"name": model_name, "audio": TINY_AUDIO, "options": model_options or {}},
            "data": {"path": str(data_dir), "cache": "none"},
            "export": {"parity_samples": 8, "calibration_samples": 8},
        }
    )
    (run_dir / "config.yaml").write_text(config.to_yaml())
    (run_dir / "labels.txt").write_text("\n".join(LABELS) + "\n")
    torch.manual_seed(seed)
    model = create_model(model_name, len(LABELS), spec=spec_from_config(config), **(model_options or {})).eval()
    save_standalone_checkpoint(
        run_dir / "best.ckpt",
        model,
        LABELS,
        config=config.model_dump(mode="json"),
        run_id="tiny-run",
        model_options=model_options,
    )
    return run_dir


def make_photo_run(
    root: Path, files_per_class: int = 4, image_size: int = 32, model_name: str = "mobilenet_v3_small_photo"
) -> Path:
    """A photo run (MobileNetV3-Small, or ``model_name``, at 32 px, random weights) over generated coloured-noise
    PNGs."""
    import numpy as np
    import torch
    from PIL import Image

    from nightscan_edge.checkpoint import save_standalone_checkpoint
    from nightscan_edge.config import resolve_config
    from nightscan_edge.data.prepare import spec_from_config
    from nightscan_edge.models import create_model

    run_dir = root / "runs" / "tiny-photo"
    rng = np.random.default_rng(0)
    rows = []
    for c, label in enumerate(LABELS):
        for i in range(files_per_class):
            path = root / "photos" / label / f"{label}_{i}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.clip(rng.normal(60 + 70 * c, 40, size=(40, 40, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(path)
            rows.append({"path": str(path), "label": label, "split": "val" if i % 2 else "train"})
    run_dir.mkdir(parents=True)
    with (run_dir / "split.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split"])
        writer.writeheader()
        writer.writerows(rows)
    config = resolve_config(
        {
            "model": {"name": model_name, "image_size": image_size},
            "data": {"path": str(root / "photos"), "cache": "none"},
            "export": {"parity_samples": 6, "calibration_samples": 6},
        }
    )
    (run_dir / "config.yaml").write_text(config.to_yaml())
    (run_dir / "labels.txt").write_text("\n".join(LABELS) + "\n")
    torch.manual_seed(0)
    model = create_model(model_name, len(LABELS), spec=spec_from_config(config)).eval()
    save_standalone_checkpoint(
        run_dir / "best.ckpt", model, LABELS, config=config.model_dump(mode="json"), run_id="tiny-photo"
    )
    return run_dir


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="session")
def onnx_export(tiny_run, tmp_path_factory):
    """One ONNX FP32+INT8 export shared by the tests that only read it."""
    from nightscan_edge.export import export_run

    return export_run(tiny_run, ["onnx"], int8=True, out_dir=tmp_path_factory.mktemp("exports") / "export-onnx")


MULTILABEL_THRESHOLDS = {"bat": 0.45, "frog": 0.5, "owl": 0.55}


def make_multilabel_run(root: Path, model_name: str = "ultralight_audio", seed: int = 0) -> Path:
    """A multi-label run by hand (docs/multilabel.md): clips holding one, two or no tones, a split.csv with the
    ``labels`` column, and a random-weight checkpoint with ``objective=multilabel`` and per-class thresholds."""
    import numpy as np
    import soundfile
    import torch

    from nightscan_edge.checkpoint import save_standalone_checkpoint
    from nightscan_edge.config import resolve_config
    from nightscan_edge.data.prepare import spec_from_config
    from nightscan_edge.models import create_model

    run_dir = root / "runs" / "tiny-multilabel"
    data_dir = root / "mixtures"
    data_dir.mkdir(parents=True)
    sets = [("bat",), ("frog",), ("owl",), ("bat", "owl"), ("frog", "owl"), ("bat", "frog"), ()]
    rng = np.random.default_rng(seed)
    t = np.arange(int(0.3 * 8000)) / 8000
    rows = []
    for i in range(2 * len(sets)):
        present = sets[i % len(sets)]
        signal = 0.01 * rng.standard_normal(t.size)
        for label in present:
            signal += 0.4 * np.sin(2 * np.pi * (400 + 900 * LABELS.index(label) + 30 * i) * t)
        path = data_dir / f"clip_{i}.wav"
        soundfile.write(str(path), signal.astype(np.float32), 8000)
        rows.append(
            {
                "path": str(path),
                "label": ";".join(present),
                "split": "val" if i % 2 else "train",
                "labels": ";".join(present),
            }
        )
    run_dir.mkdir(parents=True)
    with (run_dir / "split.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["path", "label", "split", "labels"])
        writer.writeheader()
        writer.writerows(rows)
    config = resolve_config(
        {
            "model": {"name": model_name, "audio": TINY_AUDIO},
            "data": {"path": str(data_dir), "cache": "none"},
            "train": {"objective": "multilabel"},
            "export": {"parity_samples": 8, "calibration_samples": 8},
        }
    )
    (run_dir / "config.yaml").write_text(config.to_yaml())
    (run_dir / "labels.txt").write_text("\n".join(LABELS) + "\n")
    torch.manual_seed(seed)
    model = create_model(model_name, len(LABELS), spec=spec_from_config(config)).eval()
    save_standalone_checkpoint(
        run_dir / "best.ckpt",
        model,
        LABELS,
        config=config.model_dump(mode="json"),
        run_id="tiny-multilabel",
        objective="multilabel",
        thresholds=MULTILABEL_THRESHOLDS,
    )
    return run_dir


@pytest.fixture(scope="session")
def multilabel_run(tmp_path_factory) -> Path:
    return make_multilabel_run(tmp_path_factory.mktemp("multilabel"))


@pytest.fixture(scope="session")
def multilabel_export(multilabel_run, tmp_path_factory):
    """One ONNX FP32+INT8 export of the multi-label run, shared by the tests that only read it."""
    from nightscan_edge.export import export_run

    return export_run(
        multilabel_run, ["onnx"], int8=True, out_dir=tmp_path_factory.mktemp("exports") / "export-multilabel"
    )
