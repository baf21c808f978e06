"""The typed manifest: built and dumped in one place, with the keys older exports wrote."""

import json

import pytest

from nightscan_edge.artifact import ExportManifest, Manifest, ManifestError, load_manifest
from nightscan_edge.artifact.containers import embed_appended_zip
from nightscan_edge.spec import AudioSpec, ImageSpec

# The keys ``build_manifest`` wrote before the model existed (export/manifest.py at the seed of issue 17).
SEED_KEYS = [
    "format",
    "precision",
    "model_name",
    "run_id",
    "export_id",
    "labels",
    "input",
    "output",
    "temperature",
    "package_version",
    "created",
    "parity",
]


def _build(**extra):
    spec = AudioSpec(sample_rate=8000, clip_samples=2048, n_fft=256, hop_length=128, n_mels=32)
    return Manifest.build(
        format_name="tflite",
        precision="fp32",
        model_name="ultralight_audio",
        run_id="run-1",
        labels=["owl", "fox"],
        spec=spec.model_dump(mode="json"),
        input_name="input",
        input_shape=[1, 2048],
        output_name="probabilities",
        temperature=1.5,
        export_id="e-1",
        extra=extra or None,
    )


def test_build_writes_the_seed_keys_and_only_given_optional_ones():
    data = _build().to_dict()
    assert list(data) == SEED_KEYS + ["objective", "thresholds"]
    assert data["objective"] == "single_label" and data["thresholds"] is None
    assert data["input"] == {
        "name": "input",
        "shape": [1, 2048],
        "dtype": "float32",
        "layout": "waveform (batch, samples) float32 mono at spec.sample_rate",
        "spec": AudioSpec(sample_rate=8000, clip_samples=2048, n_fft=256, hop_length=128, n_mels=32).model_dump(
            mode="json"
        ),
    }
    assert data["output"] == {
        "name": "probabilities",
        "shape": [1, 2],
        "meaning": "probabilities",
        "temperature_applied": True,
        "activation": "softmax",
    }
    with_extra = _build(calibration=None, file="model.tflite").to_dict()
    assert list(with_extra) == SEED_KEYS + ["calibration", "file", "objective", "thresholds"]
    assert with_extra["calibration"] is None


def test_later_fields_and_unknown_keys_survive_a_round_trip(tmp_path):
    manifest = _build(file="model.tflite", licence="CC-BY-4.0")
    manifest.parity = {"max_abs_diff": 0.0}
    manifest.quality_gate = {"passed": True}
    path = tmp_path / "model.tflite"
    path.write_bytes(b"TFL3" + bytes(64))
    embed_appended_zip(path, {**manifest.to_dict(), "from_the_future": 1})
    read = load_manifest(path)
    assert (
        read.licence == "CC-BY-4.0" and read.quality_gate == {"passed": True} and read.parity == {"max_abs_diff": 0.0}
    )
    assert read.to_dict()["from_the_future"] == 1 and isinstance(read.input.spec, AudioSpec)
    assert json.loads(read.to_json()) == read.to_dict()


def test_not_a_manifest_is_one_clear_error(tmp_path):
    path = tmp_path / "model.pte"
    path.write_bytes(bytes(16))
    embed_appended_zip(path, {"labels": ["a"], "format": "executorch"})
    with pytest.raises(ManifestError, match=r"model.pte's manifest is not a NightScan manifest \(.*re-run the export"):
        load_manifest(path)
    with pytest.raises(ManifestError, match="labels"):
        Manifest.from_dict({**_build().to_dict(), "labels": []})


def test_export_manifest_keeps_each_artifact_with_its_status():
    spec = ImageSpec(image_size=32)
    artifact = {**_build(file="model.onnx").to_dict(), "status": "ok"}
    beside = ExportManifest.model_validate(
        {
            "export_id": "e-1",
            "model_name": "m",
            "run_id": "r",
            "labels": ["owl", "fox"],
            "input": {
                "name": "input",
                "shape": [-1, 3, 32, 32],
                "dtype": "float32",
                "spec": spec.model_dump(mode="json"),
            },
            "output": {"name": "probabilities", "meaning": "probabilities", "temperature_applied": True},
            "temperature": 1.0,
            "calibration": None,
            "package_version": "0.1.0",
            "artifacts": {"model.onnx": artifact},
        }
    )
    data = json.loads(beside.to_json())
    assert data["artifacts"]["model.onnx"] == artifact and data["input"]["spec"]["mean"] == list(spec.mean)
    assert list(data) == [
        "export_id",
        "model_name",
        "run_id",
        "labels",
        "input",
        "output",
        "temperature",
        "calibration",
        "package_version",
        "objective",
        "thresholds",
        "artifacts",
    ]
