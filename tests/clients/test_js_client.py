"""The JS client (clients/js): its node unit tests, and parity + fallback against the Python side.

Needs node and ``npm ci --ignore-scripts`` in clients/js (``.ci/run`` does it); skipped with that reason
otherwise. The parity test exports models, computes what the Python predictor answers, starts the real
``nightscan-edge serve-model`` on 127.0.0.1 and runs ``node --test`` against all of it.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.clients import js_fixture
from tests.conftest import REPO_ROOT, SHARED_DATA

JS_ROOT = REPO_ROOT / "clients" / "js"
NODE_TIMEOUT_S = 300


def _node(with_onnxruntime: bool = True) -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm); the JS client cannot be tested")
    if with_onnxruntime and not (JS_ROOT / "node_modules" / "onnxruntime-node").is_dir():
        pytest.skip("onnxruntime-node missing: run `npm ci --ignore-scripts` in clients/js")
    return node


def _run_node(node: str, *test_files: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [node, "--test", "--test-reporter=spec", *test_files],
        cwd=JS_ROOT,
        capture_output=True,
        text=True,
        timeout=NODE_TIMEOUT_S,
        env={**os.environ, **(env or {})},
    )


def test_js_unit_tests_pass():
    node = _node(with_onnxruntime=False)  # the unit tests use a stand-in ONNX Runtime
    files = sorted(
        str(p.relative_to(JS_ROOT)) for p in (JS_ROOT / "test").glob("*.test.js") if p.name != "parity.test.js"
    )
    result = _run_node(node, *files)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    assert "ℹ fail 0" in result.stdout and "ℹ pass 0" not in result.stdout, result.stdout[-3000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _start_server(run_dir: Path, port: int, log: Path) -> subprocess.Popen:
    cli = Path(sys.executable).with_name("nightscan-edge")
    command = (
        [str(cli)]
        if cli.exists()
        else [sys.executable, "-c", "import sys; from nightscan_edge.cli import main; sys.exit(main())"]
    )
    with open(log, "w") as handle:  # the child keeps its own descriptor
        return subprocess.Popen(
            [*command, "serve-model", str(run_dir), "--host", "127.0.0.1", "--port", str(port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"},
        )


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


def _wait_ready(process: subprocess.Popen, url: str, log: Path, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"serve-model exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"{url}/api/predict/model", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"serve-model did not answer within {timeout_s} s: {log.read_text()[-2000:]}")


@pytest.mark.slow
def test_js_matches_python_predictor_and_falls_back_to_real_server(tmp_path):
    node = _node()
    shared = SHARED_DATA if SHARED_DATA.is_dir() else None
    audio_run = js_fixture.make_run(tmp_path, "audio")
    image_run = js_fixture.make_run(tmp_path, "image")
    multilabel_run = js_fixture.make_run(tmp_path, "audio_multilabel")

    port = _free_port()
    server_url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve-model.log"
    server = _start_server(audio_run.run_dir, port, log)  # starts while the models export
    try:
        audio_model = js_fixture.export_onnx(audio_run, tmp_path / "export_audio")
        image_model = js_fixture.export_onnx(image_run, tmp_path / "export_image")
        multilabel_model = js_fixture.export_onnx(multilabel_run, tmp_path / "export_multilabel")
        audio_classifier = js_fixture.edge_classifier(audio_model)
        image_classifier = js_fixture.edge_classifier(image_model)
        multilabel_classifier = js_fixture.edge_classifier(multilabel_model)
        clip_files = js_fixture.audio_clips(tmp_path / "clips", shared)
        clips = js_fixture.expected_audio(audio_classifier, clip_files)
        multilabel_clips = js_fixture.expected_audio(
            multilabel_classifier, [c for c in clip_files if c["sample_rate"] == js_fixture.AUDIO_SPEC.sample_rate]
        )
        images = js_fixture.expected_images(image_classifier, js_fixture.image_inputs(tmp_path / "images", shared))

        long_clip = next(c for c in clips if c["name"] == "long")
        confidences = sorted(max(w["probabilities"]) for w in long_clip["windows"])
        threshold = (confidences[len(confidences) // 2 - 1] + confidences[len(confidences) // 2]) / 2
        _wait_ready(server, server_url, log)
        fallback = js_fixture.expected_fallback(audio_classifier, long_clip, server_url, threshold)
        fixture = {
            "tolerance": 1e-5,
            "results_path": str(tmp_path / "js_results.json"),
            "audio": {
                "model_path": str(audio_model),
                "bundle_path": str(audio_model.parent / "bundle.zip"),
                "labels": audio_classifier.labels,
                "clips": clips,
                "resampled_tolerance": 0.01,
            },
            "image": {"model_path": str(image_model), "labels": image_classifier.labels, "images": images},
            "multilabel": {
                "model_path": str(multilabel_model),
                "labels": multilabel_classifier.labels,
                "thresholds": multilabel_classifier.thresholds,
                "clips": multilabel_clips,
            },
            "fallback": {**fallback, "server_url": server_url, "dead_server_url": f"http://127.0.0.1:{_free_port()}"},
        }
        fixture_path = tmp_path / "fixture.json"
        fixture_path.write_text(json.dumps(fixture, indent=1))
        result = _run_node(node, "test/parity.test.js", env={"NIGHTSCAN_JS_FIXTURE": str(fixture_path)})
    finally:
        _stop(server)
    output = result.stdout[-8000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "ℹ skipped 0" in result.stdout, output  # every parity test ran
    measured = json.loads((tmp_path / "js_results.json").read_text())
    print("JS client parity:", json.dumps({**measured, "data": clips[0]["origin"] + " / " + images[0]["origin"]}))
    assert measured["audio_max_abs_difference"] <= 1e-5
    assert measured["image_max_abs_difference"] <= 1e-5
    assert measured["multilabel_max_abs_difference"] <= 1e-5 and measured["multilabel_present_labels"] > 0
