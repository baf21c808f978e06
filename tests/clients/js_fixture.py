"""Builds the JS client's parity fixture: exported ONNX models, input clips/pixels, and what Python predicts.

The JS tests (clients/js/test/parity.test.js) read ``fixture.json`` and must reproduce every probability
listed there within 1e-5. Everything is generated into a temporary folder at test time; nothing binary is
committed. Real clips from ../shared/data are used when present, generated tones and noise images otherwise.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile

from nightscan_edge.audio.decode import decode_audio
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec, ImageSpec

# Small specs keep export and inference quick; the rules exercised (windows, padding, resize) are the same.
AUDIO_SPEC = AudioSpec(sample_rate=16000, clip_samples=16384, n_fft=512, hop_length=256, n_mels=64, pad_mode="loop")
IMAGE_SPEC = ImageSpec(image_size=32)
AUDIO_LABELS = ["bird", "cat", "dog", "frog"]
IMAGE_LABELS = ["cat", "deer", "dog", "frog", "horse"]
SEED = 7
TEMPERATURE = 1.5  # stored in the checkpoint; the exporter bakes it into the softmax


@dataclass
class TrainedRun:
    run_dir: Path
    checkpoint: Path


def _fit_batch_norm(model, inputs) -> None:
    """An untrained model's BatchNorm layers keep their initial statistics, which makes its output almost
    constant. Re-estimating them on a few inputs (what training would do) gives outputs that vary with the
    input, so parity covers confident and unsure windows alike; accuracy is not the point here."""
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the batches below
    model.train()
    with torch.no_grad():
        for batch in inputs:
            model.forward_waveform(batch) if model.input_kind == "audio" else model(batch)
    model.eval()


def _statistics_inputs(kind: str):
    import torch

    generator = torch.Generator().manual_seed(SEED)
    if kind == "image":
        return [torch.rand((8, *IMAGE_SPEC.input_shape), generator=generator) * 4 - 2 for _ in range(2)]
    rate = AUDIO_SPEC.sample_rate
    t = torch.arange(AUDIO_SPEC.clip_samples) / rate
    batches = []
    for _ in range(2):
        frequencies = torch.rand((8, 1), generator=generator) * 6000 + 100
        levels = torch.rand((8, 1), generator=generator) * 0.5
        noise = torch.randn((8, t.numel()), generator=generator) * torch.rand((8, 1), generator=generator) * 0.05
        batches.append(levels * torch.sin(2 * torch.pi * frequencies * t) + noise)
    return batches


def make_run(root: Path, kind: str) -> TrainedRun:
    """A run folder holding a self-describing checkpoint of a seeded model with a calibration temperature;
    ``audio_multilabel``: a multi-label one (sigmoid outputs) whose thresholds are each class's median score
    on the statistics inputs, so the parity clips hold classes both above and below their thresholds."""
    import torch

    from nightscan_edge.checkpoint import checkpoint_metadata

    torch.manual_seed(SEED)
    if kind == "audio_multilabel":
        model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=AUDIO_SPEC)
        _fit_batch_norm(model, _statistics_inputs("audio"))
        with torch.no_grad():
            scores = torch.cat([torch.sigmoid(model.forward_waveform(b)) for b in _statistics_inputs("audio")])
        medians = scores.median(dim=0).values.tolist()
        # float32 values, so Python (float64 compare) and JS (Float32Array) put a score on the same side
        thresholds = {label: float(np.float32(m)) for label, m in zip(AUDIO_LABELS, medians, strict=True)}
        metadata = checkpoint_metadata(
            model, AUDIO_LABELS, {}, "js-parity-multilabel", objective="multilabel", thresholds=thresholds
        )
        return _save_run(root, kind, model, AUDIO_LABELS, metadata)
    if kind == "audio":
        model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=AUDIO_SPEC)
        labels = AUDIO_LABELS
    else:
        model = create_model("mobilenet_v3_small_photo", len(IMAGE_LABELS), spec=IMAGE_SPEC)
        labels = IMAGE_LABELS
    _fit_batch_norm(model, _statistics_inputs(kind))
    # A temperature in the checkpoint is baked into the exported softmax; both clients must not apply it twice.
    metadata = checkpoint_metadata(model, labels, {}, f"js-parity-{kind}", temperature=TEMPERATURE)
    return _save_run(root, kind, model, labels, metadata)


def _save_run(root: Path, kind: str, model, labels: list[str], metadata: dict) -> TrainedRun:
    import torch

    from nightscan_edge.checkpoint import CHECKPOINT_KEY, MODEL_PREFIX

    run_dir = root / f"run_{kind}"
    run_dir.mkdir(parents=True)
    checkpoint = run_dir / "best.ckpt"
    state = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    torch.save({"state_dict": state, CHECKPOINT_KEY: metadata}, checkpoint)
    (run_dir / "labels.txt").write_text("\n".join(labels) + "\n")
    return TrainedRun(run_dir, checkpoint)


# -- inputs ------------------------------------------------------------------------------------------------
def audio_clips(folder: Path, shared_data: Path | None) -> list[dict]:
    """WAV files (32-bit float, at the model's rate) covering: shorter than a window, about one window, a
    long recording with several windows and an end-aligned tail; plus one at 44.1 kHz for the resampler."""
    folder.mkdir(parents=True, exist_ok=True)
    rate = AUDIO_SPEC.sample_rate
    window = AUDIO_SPEC.clip_samples
    sources: list[np.ndarray] = []
    origin = "generated"
    manifest = shared_data / "animal-sounds" / "manifest.csv" if shared_data else None
    if manifest is not None and manifest.is_file():
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle))
        picked = {}
        for row in rows:  # one clip per label, in a fixed order
            picked.setdefault(row["label"], row["path"])
        for relative in list(picked.values())[:4]:
            sources.append(decode_audio(manifest.parent / relative, rate))
        origin = "animal-sounds"
    else:
        rng = np.random.default_rng(SEED)
        for frequency in (440.0, 1800.0, 3100.0, 5200.0):
            t = np.arange(int(2.5 * rate)) / rate
            chirp = np.sin(2 * np.pi * frequency * t * (1 + 0.3 * t)) * np.exp(-((t % 0.7) * 4))
            sources.append((0.4 * chirp + 0.02 * rng.standard_normal(t.size)).astype(np.float32))
    long_recording = np.concatenate(sources + sources[:2])
    clips = {
        "short": sources[0][: window // 3],
        "one_window": sources[1][:window],
        "long": long_recording[: 5 * window + window // 3],  # 50 % hops leave a tail -> end-aligned window
    }
    entries = []
    for name, samples in clips.items():
        path = folder / f"{name}.wav"
        soundfile.write(str(path), samples.astype(np.float32), rate, subtype="FLOAT")
        entries.append({"name": name, "path": str(path), "sample_rate": rate, "origin": origin})
    # Same audio at 44.1 kHz: Python resamples with soxr, JS with its sinc resampler (compared loosely).
    high_rate = 44100
    import soxr

    high = soxr.resample(clips["one_window"], rate, high_rate, quality="HQ").astype(np.float32)
    path = folder / "one_window_44k.wav"
    soundfile.write(str(path), high, high_rate, subtype="FLOAT")
    entries.append({"name": "one_window_44k", "path": str(path), "sample_rate": high_rate, "origin": origin})
    return entries


def image_inputs(folder: Path, shared_data: Path | None) -> list[dict]:
    """Images as files (what Python reads) plus their decoded RGB pixels (what an app hands the JS client):
    at the model's size (no resize), smaller (upscaled) and larger/non-square (antialiased downscale)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    manifest = shared_data / "cifar10-animals" / "manifest.csv" if shared_data else None
    images: list[tuple[str, Image.Image]] = []
    if manifest is not None and manifest.is_file():
        with open(manifest, newline="") as handle:
            rows = list(csv.DictReader(handle))[:3]
        for index, row in enumerate(rows):
            with Image.open(manifest.parent / row["path"]) as image:
                images.append((f"real_{index}", image.convert("RGB")))
        origin = "cifar10-animals"
    else:
        rng = np.random.default_rng(SEED)
        for index in range(3):
            pixels = rng.integers(0, 256, size=(32, 32, 3), dtype=np.uint8)
            images.append((f"generated_{index}", Image.fromarray(pixels, "RGB")))
        origin = "generated"
    base = images[0][1]
    images.append(("upscale_20px", base.resize((20, 20), Image.NEAREST)))
    images.append(("downscale_71x45", base.resize((71, 45), Image.NEAREST)))
    entries = []
    for name, image in images:
        png = folder / f"{name}.png"
        image.save(png)
        raw = folder / f"{name}.rgb"
        raw.write_bytes(np.asarray(image, dtype=np.uint8).tobytes())
        entries.append(
            {
                "name": name,
                "path": str(png),
                "pixels_path": str(raw),
                "width": image.width,
                "height": image.height,
                "origin": origin,
            }
        )
    return entries


# -- export ------------------------------------------------------------------------------------------------
def export_onnx(run: TrainedRun, out_dir: Path) -> Path:
    """The real exporter (FP32 ONNX + bundle.zip); returns the model path."""
    from nightscan_edge.config import ExportConfig
    from nightscan_edge.export import export_run

    # A few parity inputs suffice: the exporter's own parity check is not what this fixture tests.
    config = ExportConfig(formats=["onnx"], int8=False, parity_samples=4, validation_samples=4)
    report = export_run(run.run_dir, formats=["onnx"], int8=False, out_dir=out_dir, config=config)
    path = out_dir / "model.onnx"
    if not path.is_file():
        raise RuntimeError(f"export wrote no model.onnx: {report.to_dict()}")
    return path


def edge_classifier(model_path: Path):
    """The Python predictor's view of the exported file (built from its embedded manifest only)."""
    from nightscan_edge.predict.classifier import load_edge_classifier

    return load_edge_classifier(model_path, threads=1)


# -- expected outputs ----------------------------------------------------------------------------------------
def expected_audio(classifier, clips: list[dict]) -> list[dict]:
    """What Python predicts per clip; a multi-label classifier also lists every class above its threshold (per
    window and for the clip) and reports per-class detections."""
    from nightscan_edge.objective import labels_above_thresholds
    from nightscan_edge.predict.scoring import score_audio, summarise
    from nightscan_edge.predict.windows import merge_windows, reported_detections

    labels, thresholds = classifier.labels, classifier.thresholds

    def present(values) -> dict:
        named = {label: float(v) for label, v in zip(labels, values, strict=True)}
        return {"labels": labels_above_thresholds(named, thresholds)} if thresholds else {}

    results = []
    for clip in clips:
        scores = score_audio(classifier, Path(clip["path"]))
        label, confidence, probabilities = summarise(scores, labels, classifier.multilabel)
        detections = (
            reported_detections(scores, labels, len(labels), classifier.threshold_array)
            if classifier.multilabel
            else merge_windows(scores, labels, top_k=len(labels))
        )
        results.append(
            {
                **clip,
                "windows": [
                    {
                        "start_s": s.start_s,
                        "end_s": s.end_s,
                        "probabilities": s.probabilities.tolist(),
                        **present(s.probabilities),
                    }
                    for s in scores
                ],
                "label": label,
                "confidence": confidence,
                "probabilities": probabilities,
                "detections": [_detection(d) for d in detections],
                **present([probabilities[name] for name in labels]),
            }
        )
    return results


def expected_images(classifier, images: list[dict]) -> list[dict]:
    from nightscan_edge.predict.scoring import score_image

    return [{**image, "probabilities": score_image(classifier, Path(image["path"])).tolist()} for image in images]


def _detection(detection) -> dict:
    return {
        "start_s": detection.start_s,
        "end_s": detection.end_s,
        "label": detection.label,
        "confidence": detection.confidence,
        "source": detection.source,
        "fallback_failed": detection.fallback_failed,
        "top_k": [[label, probability] for label, probability in detection.top_k],
    }


def expected_fallback(classifier, clip: dict, server_url: str, threshold: float) -> dict:
    """What Python's EdgePredictor answers for a clip when windows under ``threshold`` go to the server."""
    from nightscan_edge.predict.edge_predictor import EdgePredictor

    with EdgePredictor(
        classifier, server_url=server_url, threshold=threshold, top_k=len(classifier.labels)
    ) as predictor:
        result = predictor.predict_file(clip["path"])
    if result.error:
        raise RuntimeError(f"Python EdgePredictor failed on {clip['path']}: {result.error}")
    return {
        "clip": clip["name"],
        "threshold": threshold,
        "sent_to_server": result.sent_to_server,
        "detections": [_detection(d) for d in result.detections],
    }
