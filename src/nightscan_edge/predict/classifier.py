"""One interface over the two models that score windows: the exported edge artifact and the server's model.

Both answer ``probabilities(batch) -> (N, classes)`` on inputs built from the same spec, so windowing,
merging and the server's response are computed by the same code. The edge side is built **only** from the
artifact's embedded manifest (the phone has nothing else); the server side from a run's checkpoint.
"""

from __future__ import annotations

import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightscan_edge.artifact import FORMATS, ManifestError, format_by_suffix, portable_formats
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.errors import CheckpointError, UserError
from nightscan_edge.objective import (
    MULTILABEL,
    SINGLE_LABEL,
    Objective,
    ThresholdError,
    activation_for,
    check_thresholds,
)
from nightscan_edge.runtime import load_runner
from nightscan_edge.spec import AudioSpec, ImageSpec, spec_from_dict

# When a bundle.zip holds several artifacts, the one run by default: the format table's order of the formats
# that run here, FP32 before INT8 -- FP32 ONNX first (runs everywhere and is the parity reference).
BUNDLE_PREFERENCE = tuple(fmt.artifact_name(precision) for fmt in portable_formats() for precision in ("fp32", "int8"))
ARTIFACT_SUFFIXES = (*(fmt.suffix for fmt in portable_formats()), ".zip")
_RUNNABLE = ", ".join(fmt.suffix for fmt in portable_formats())
# Small batches: on one CPU core throughput is flat from 1 to 8 windows, while ONNX Runtime's memory arena
# keeps the largest batch's activations (64 default-spec windows held ~200 MB).
EDGE_BATCH_SIZE = 4


class ArtifactError(UserError):
    """An artifact that cannot be used for prediction (wrong format, no manifest, broken bundle)."""


def calibrate(probabilities: np.ndarray, temperature: float | None) -> np.ndarray:
    """Temperature-scale probabilities: softmax(log(p) / T) equals softmax(logits / T)."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if temperature is None or temperature == 1.0:
        return probabilities.astype(np.float32)
    logits = np.log(np.clip(probabilities, 1e-12, 1.0)) / float(temperature)
    logits -= logits.max(axis=-1, keepdims=True)
    exp = np.exp(logits)
    calibrated: np.ndarray = (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)
    return calibrated


@dataclass
class Classifier:
    """Scores preprocessed inputs (audio windows ``(N, clip_samples)`` or images ``(N, C, H, W)``)."""

    name: str
    run_id: str
    labels: list[str]
    spec: AudioSpec | ImageSpec
    predict_batch: Callable[[np.ndarray], np.ndarray]
    temperature: float | None = None
    batch_size: int = EDGE_BATCH_SIZE
    source: str = "edge"
    description: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)  # the artifact's embedded manifest (edge only)
    objective: Objective = SINGLE_LABEL
    thresholds: dict[str, float] | None = None  # multilabel: per label, in label order
    _keep_alive: list[Any] = field(default_factory=list, repr=False)  # e.g. a bundle's temporary folder

    @property
    def input_kind(self) -> str:
        return self.spec.kind

    @property
    def multilabel(self) -> bool:
        return self.objective == MULTILABEL

    @property
    def threshold_array(self) -> np.ndarray:
        """The thresholds in output order (a multi-label classifier always has them)."""
        if self.thresholds is None:
            raise ArtifactError(f"{self.description or self.name} is single-label; it has no per-class thresholds")
        return np.array([self.thresholds[label] for label in self.labels], dtype=np.float32)

    @property
    def audio_spec(self) -> AudioSpec:
        """The spec, for code that cuts recordings into windows: a photo model is refused by name."""
        if not isinstance(self.spec, AudioSpec):
            raise ArtifactError(f"{self.description or self.name} classifies photos; this needs an audio model")
        return self.spec

    @property
    def image_spec(self) -> ImageSpec:
        """The spec, for code that resizes photos: an audio model is refused by name."""
        if not isinstance(self.spec, ImageSpec):
            raise ArtifactError(f"{self.description or self.name} classifies recordings; this needs a photo model")
        return self.spec

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for any number of inputs, in model-sized batches."""
        inputs = np.ascontiguousarray(inputs, dtype=np.float32)
        parts = [self.predict_batch(inputs[i : i + self.batch_size]) for i in range(0, len(inputs), self.batch_size)]
        raw = np.concatenate(parts, axis=0) if parts else np.zeros((0, len(self.labels)), dtype=np.float32)
        if raw.shape[-1] != len(self.labels):
            raise ArtifactError(
                f"{self.description or self.name}: model returned {raw.shape[-1]} scores for {len(self.labels)} labels"
            )
        return calibrate(raw, self.temperature)


def _artifact_from_bundle(bundle: Path, holder: list[Any]) -> Path:
    try:
        archive = zipfile.ZipFile(bundle)
    except zipfile.BadZipFile as error:
        raise ArtifactError(
            f"{bundle} is not a valid bundle.zip ({error}); pass the export's bundle.zip or a model file"
        ) from error
    with archive:
        names = {Path(name).name: name for name in archive.namelist()}
        choice = next((names[name] for name in BUNDLE_PREFERENCE if name in names), None)
        if choice is None:
            raise ArtifactError(f"{bundle} holds no model file ({', '.join(BUNDLE_PREFERENCE)}); re-run the export")
        folder = tempfile.TemporaryDirectory(prefix="nightscan-bundle-")
        holder.append(folder)
        return Path(archive.extract(choice, folder.name))


def load_edge_classifier(artifact: str | Path, threads: int | None = None) -> Classifier:
    """Open an exported artifact (or bundle.zip) with its embedded manifest; refuse anything else clearly."""
    artifact = Path(artifact)
    if not artifact.exists():
        raise FileNotFoundError(
            f"{artifact} does not exist; pass an exported model ({_RUNNABLE.replace(', ', '/')}) or bundle.zip"
        )
    fmt = format_by_suffix(artifact)
    if fmt is not None and not fmt.portable:
        raise ArtifactError(f"{artifact.name}: {fmt.unavailable_reason}; use the export's {_RUNNABLE}")
    if artifact.is_dir():
        raise ArtifactError(
            f"{artifact} is a folder; pass one model file from it (e.g. {artifact / 'model.onnx'}) or its bundle.zip"
        )
    if artifact.suffix.lower() not in ARTIFACT_SUFFIXES:
        raise ArtifactError(
            f"{artifact.name} is not an exported model; expected one of {', '.join(ARTIFACT_SUFFIXES)} "
            f"({'; '.join(f'{f.suffix}: {f.unavailable_reason}' for f in FORMATS.values() if not f.portable)})"
        )
    holder: list[Any] = []
    model_path = _artifact_from_bundle(artifact, holder) if artifact.suffix.lower() == ".zip" else artifact

    try:
        runner = load_runner(model_path, threads=threads)
    except ManifestError as error:
        raise ArtifactError(
            f"{artifact}: no NightScan manifest embedded ({error}); export it with `nightscan-edge export`"
        ) from error
    except (ValueError, RuntimeError, OSError) as error:
        raise ArtifactError(f"{artifact}: cannot be loaded as a {model_path.suffix} model ({error})") from error
    manifest = runner.manifest
    try:
        spec = spec_from_dict(manifest["input"]["spec"])
        labels = list(manifest["labels"])
    except (KeyError, TypeError, ValueError) as error:
        raise ArtifactError(
            f"{artifact}: manifest lacks a valid input spec or labels ({error}); re-run the export"
        ) from error
    objective, thresholds = manifest_objective(manifest, labels, artifact)
    classifier = Classifier(
        name=manifest.get("model_name", model_path.stem),
        run_id=manifest.get("run_id", ""),
        labels=labels,
        spec=spec,
        predict_batch=runner.predict,
        # Exports return softmax(logits / T) already; only an artifact saying otherwise is scaled here.
        temperature=None
        if (manifest.get("output") or {}).get("temperature_applied", True)
        else manifest.get("temperature"),
        batch_size=EDGE_BATCH_SIZE if getattr(runner, "dynamic_batch", False) else 1,
        source="edge",
        description=f"{artifact.name} ({manifest.get('format', model_path.suffix)}, {manifest.get('precision', '?')})",
        manifest=dict(manifest),
        objective=objective,
        thresholds=thresholds,
        _keep_alive=holder + [runner],
    )
    check_manifest_fits_model(classifier, artifact)
    if model_path.suffix.lower() == ".onnx" and isinstance(spec, AudioSpec) and manifest.get("precision") == "fp32":
        check_onnx_front_end(model_path, spec, artifact)
    return classifier


def manifest_objective(
    manifest: dict[str, Any], labels: list[str], artifact: Path
) -> tuple[Objective, dict[str, float] | None]:
    """The file's objective and thresholds (docs/multilabel.md); a manifest that says multilabel without usable
    thresholds, or with an output that is not sigmoid, is refused before any file is read."""
    objective = manifest.get("objective", SINGLE_LABEL)
    if objective not in (SINGLE_LABEL, MULTILABEL):
        raise ArtifactError(f"{artifact.name}: unknown objective {objective!r} in its manifest; re-run the export")
    activation = (manifest.get("output") or {}).get("activation", "softmax")
    if activation != activation_for(objective):
        raise ArtifactError(f"{artifact.name}: a {objective} manifest with a {activation} output; re-run the export")
    if objective == SINGLE_LABEL:
        return SINGLE_LABEL, None
    raw = manifest.get("thresholds")
    if not isinstance(raw, dict):
        raise ArtifactError(
            f"{artifact.name}: a multilabel manifest without per-class thresholds; re-export from a run that chose them"
        )
    try:
        return MULTILABEL, check_thresholds({str(k): float(v) for k, v in raw.items()}, labels)
    except (ThresholdError, TypeError, ValueError) as error:
        raise ArtifactError(f"{artifact.name}: {error}; re-run the export") from None


def check_onnx_front_end(model_path: Path, spec: AudioSpec, artifact: Path) -> None:
    """The log-mel front-end is inside the graph, its mel filterbank baked in as constants computed from the
    sample rate, ``n_fft``, ``n_mels`` and band edges at export. A manifest whose sample rate (or band) was
    edited afterwards would make every caller resample to the wrong rate with no error; the filterbank the
    manifest implies is compared with the graph's own, and a mismatch is one line."""
    try:
        import onnx  # the export extra; without it the probe above is the check
        from onnx import numpy_helper
    except ImportError:
        return
    from nightscan_edge.audio.log_mel import LogMel

    graph = onnx.load(str(model_path), load_external_data=False).graph
    constants = [
        numpy_helper.to_array(a.t)
        for node in graph.node
        if node.op_type == "Constant" and node.output and "log_mel" in node.output[0]
        for a in node.attribute
        if a.name == "value" and a.t.dims
    ]
    if not constants:  # no front-end constants found under that name: nothing to compare against
        return
    constants += [numpy_helper.to_array(t) for t in graph.initializer]
    expected = [b.numpy() for name, b in LogMel(spec).named_buffers() if name.startswith("mel_basis")]
    for basis in expected:
        same_shape = [c for c in constants if c.shape == basis.shape and c.dtype == basis.dtype]
        if not any(np.allclose(c, basis, atol=1e-6) for c in same_shape):
            raise ArtifactError(
                f"{artifact.name}: the manifest's front-end ({spec.sample_rate} Hz, {spec.n_mels} mels, "
                f"{spec.f_min:g}-{spec.f_max or spec.sample_rate / 2:g} Hz) differs from the one inside the model; "
                "the manifest was edited -- re-run the export"
            )


def check_manifest_fits_model(classifier: Classifier, artifact: Path) -> None:
    """One probe input shaped by the manifest's spec, before any file is read: a manifest that was edited (or
    copied from another model) -- other clip length or image size, a different number of labels -- is refused
    with one line here instead of failing every file of a batch, or scoring with the wrong labels."""
    spec = classifier.spec
    if isinstance(spec, AudioSpec):
        probe, shape = np.zeros((1, spec.clip_samples), dtype=np.float32), f"{spec.clip_samples} samples"
    else:
        size = spec.image_size
        probe, shape = np.zeros((1, spec.channels, size, size), dtype=np.float32), f"{spec.channels}x{size}x{size}"
    try:
        outputs = np.asarray(classifier.predict_batch(probe))
    except Exception as error:  # each runtime words a shape mismatch differently
        detail = " ".join(str(error).split())[:160]
        raise ArtifactError(
            f"{artifact.name}: the model does not take the manifest's input ({shape}): {detail}; the manifest was "
            "edited or belongs to another model -- re-run the export"
        ) from None
    if outputs.shape[-1] != len(classifier.labels):
        raise ArtifactError(
            f"{artifact.name}: the manifest lists {len(classifier.labels)} labels but the model gives "
            f"{outputs.shape[-1]} scores; the manifest was edited or belongs to another model -- re-run the export"
        )


def load_server_classifier(run_or_checkpoint: str | Path, use_teacher: bool = True) -> Classifier:
    """The server-side model: the run's FP32 PyTorch model, or its distillation teacher when it has one."""

    trained = load_trained_model(run_or_checkpoint)
    teacher = (trained.config.get("train") or {}).get("teacher") if use_teacher else None
    if teacher:
        if not Path(teacher).exists():
            raise FileNotFoundError(f"the run's teacher {teacher} is missing; restore it or pass --no-teacher")
        trained = load_trained_model(teacher)
    if trained.multilabel and trained.thresholds is None:
        raise CheckpointError(
            f"{trained.checkpoint_path} is a multilabel model without per-class thresholds; finish its training"
        )
    model = trained.model.eval()

    def predict_batch(inputs: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            tensor = torch.from_numpy(inputs)
            logits = model.forward_waveform(tensor) if trained.spec.kind == "audio" else model(tensor)
            if trained.multilabel:  # the exported file's activation, so edge and server scores compare
                return torch.sigmoid(logits).numpy()
            return torch.softmax(logits, dim=-1).numpy()

    return Classifier(
        name=trained.model_name,
        run_id=trained.run_id,
        labels=trained.labels,
        spec=trained.spec,
        predict_batch=predict_batch,
        temperature=None if trained.multilabel else trained.temperature,
        batch_size=8,
        source="server",
        description=f"{trained.checkpoint_path} (PyTorch FP32)",
        objective=trained.objective,
        thresholds=trained.thresholds,
    )
