"""Tiny runs (random weights, small specs) and a real uvicorn server on 127.0.0.1 for the prediction tests."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest

from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec, ImageSpec

AUDIO_LABELS = ["owl", "fox", "bat"]
PHOTO_LABELS = ["cat", "deer", "frog"]
# 8 kHz, ~1 s windows, 32 mel bands: small enough that a forward pass costs about a millisecond.
TINY_AUDIO_SPEC = AudioSpec(sample_rate=8000, clip_samples=7936, n_fft=256, hop_length=128, n_mels=32)
TINY_IMAGE_SPEC = ImageSpec(image_size=32)


@pytest.fixture(scope="session")
def tiny_audio_run(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-audio"
    model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=TINY_AUDIO_SPEC).eval()
    save_standalone_checkpoint(run_dir / "best.ckpt", model, AUDIO_LABELS, run_id="tiny-audio")
    return run_dir


@pytest.fixture(scope="session")
def tiny_photo_run(tmp_path_factory) -> Path:
    import torch

    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-photo"
    model = create_model("mobilenet_v3_small_photo", len(PHOTO_LABELS), spec=TINY_IMAGE_SPEC).eval()
    save_standalone_checkpoint(run_dir / "best.ckpt", model, PHOTO_LABELS, run_id="tiny-photo")
    return run_dir


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ThreadedServer:
    """uvicorn serving an app in a background thread on a free local port."""

    def __init__(self, app) -> None:
        import uvicorn

        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    def __enter__(self) -> ThreadedServer:
        self._thread.start()
        deadline = time.monotonic() + 20
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@pytest.fixture
def serve():
    """``serve(app)`` -> a started ThreadedServer, stopped after the test."""
    servers: list[ThreadedServer] = []

    def start(app) -> ThreadedServer:
        server = ThreadedServer(app).__enter__()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def post_file(url: str, path: Path) -> httpx.Response:
    return httpx.post(url + "/api/predict", files={"file": (path.name, path.read_bytes())}, timeout=30)


def export_tiny_onnx(run_dir: Path, out_dir: Path, temperature: float = 1.0) -> Path:
    """ONNX with the embedded manifest, built from the export package's own pieces (no calibration/parity)."""
    from nightscan_edge.artifact import INPUT_NAME, OUTPUT_NAME
    from nightscan_edge.artifact.manifest import build_manifest
    from nightscan_edge.artifact.onnx import embed_onnx, export_onnx
    from nightscan_edge.artifact.wrapper import ExportableClassifier, example_input
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.objective import activation_for

    trained = load_trained_model(run_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    module = ExportableClassifier(trained.model, temperature, activation_for(trained.objective))
    export_onnx(module, example_input(trained.model, batch=2), path)
    manifest = build_manifest(
        format_name="onnx",
        precision="fp32",
        model_name=trained.model_name,
        run_id=trained.run_id,
        labels=trained.labels,
        spec=trained.spec.model_dump(mode="json"),
        input_name=INPUT_NAME,
        input_shape=[-1, *trained.spec.input_shape],
        output_name=OUTPUT_NAME,
        temperature=temperature,
        export_id="test",
        objective=trained.objective,
        thresholds=trained.thresholds,
    )
    embed_onnx(path, manifest)
    return path


@pytest.fixture(scope="session")
def tiny_audio_onnx(tiny_audio_run, tmp_path_factory) -> Path:
    return export_tiny_onnx(tiny_audio_run, tmp_path_factory.mktemp("export-audio"))


MULTILABEL_THRESHOLDS = {"owl": 0.5, "fox": 0.5, "bat": 0.5}


@pytest.fixture(scope="session")
def tiny_multilabel_run(tmp_path_factory) -> Path:
    """A multi-label checkpoint by hand (docs/multilabel.md): random weights, sigmoid scores, one threshold each."""
    import torch

    torch.manual_seed(0)
    run_dir = tmp_path_factory.mktemp("runs") / "tiny-multilabel"
    model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=TINY_AUDIO_SPEC).eval()
    save_standalone_checkpoint(
        run_dir / "best.ckpt",
        model,
        AUDIO_LABELS,
        run_id="tiny-multilabel",
        objective="multilabel",
        thresholds=MULTILABEL_THRESHOLDS,
    )
    return run_dir


@pytest.fixture(scope="session")
def tiny_multilabel_onnx(tiny_multilabel_run, tmp_path_factory) -> Path:
    return export_tiny_onnx(tiny_multilabel_run, tmp_path_factory.mktemp("export-multilabel"))


@pytest.fixture(scope="session")
def tiny_photo_onnx(tiny_photo_run, tmp_path_factory) -> Path:
    return export_tiny_onnx(tiny_photo_run, tmp_path_factory.mktemp("export-photo"))
