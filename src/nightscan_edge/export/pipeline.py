"""``export_run``: one trained run -> ``runs/<run>/exports/<export_id>/`` with every requested artifact.

Order of work: validate the request against the format table; rebuild the trained model; fit the
calibration temperature on the validation split; then per format write FP32 (and INT8), embed the
manifest, load the file in its own runtime and measure parity (and the INT8 quality gate). One failing
format is recorded with its error and does not stop the others; the bundle holds what passed.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightscan_edge.checkpoint import TrainedModel, load_trained_model
from nightscan_edge.config import ExportConfig, load_config
from nightscan_edge.export import calibration as calibration_module
from nightscan_edge.export.errors import ExportError
from nightscan_edge.export.formats import ExportFormat, validate_formats
from nightscan_edge.export.manifest import (
    LABELS_FILE,
    MANIFEST_FILE,
    build_manifest,
    embed_appended_zip,
    embed_onnx,
    manifest_json,
)
from nightscan_edge.export.parity import measure_parity, needs_macos
from nightscan_edge.export.quality_gate import quality_gate
from nightscan_edge.export.wrapper import INPUT_NAME, OUTPUT_NAME, ExportableClassifier, example_input

EXPORTS_DIR = "exports"
REJECTED_DIR = "rejected"  # INT8 files that failed the gate: kept for inspection, out of the bundle and benches
_TORCH_BATCH = 32


@dataclass
class ArtifactResult:
    format: str
    precision: str
    status: str  # ok | failed | parity_failed | rejected
    file: str | None = None
    error: str | None = None
    size_bytes: int | None = None
    seconds: float | None = None
    dynamic_batch: bool | None = None
    batch_sizes_checked: list[int] = field(default_factory=list)
    parity: dict | None = None
    gate: dict | None = None
    spec_check: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass
class ExportReport:
    export_id: str
    run_id: str
    model_name: str
    out_dir: Path
    temperature: float
    samples: str  # where parity/calibration inputs came from
    artifacts: list[ArtifactResult]
    calibration: dict | None = None
    bundle: Path | None = None
    seconds: float = 0.0
    licence: str | None = None  # inherited from pretrained weights (BirdNET teacher); None: Apache-2.0

    @property
    def ok(self) -> bool:
        """Every FP32 artifact passed (INT8 rejections by the gate are a result, not an error)."""
        return all(a.ok for a in self.artifacts if a.precision == "fp32")

    def artifact(self, format_name: str, precision: str = "fp32") -> ArtifactResult:
        for item in self.artifacts:
            if item.format == format_name and item.precision == precision:
                return item
        raise KeyError(f"no {format_name} {precision} artifact in export {self.export_id}")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["out_dir"] = str(self.out_dir)
        data["bundle"] = str(self.bundle) if self.bundle else None
        data["ok"] = self.ok
        return data

    def summary_lines(self) -> list[str]:
        lines = [
            f"export {self.export_id} of run {self.run_id} ({self.model_name}) -> {self.out_dir}",
            f"temperature {self.temperature:.3f}; parity inputs: {self.samples}",
        ]
        if self.licence:
            lines.append(f"licence: {self.licence} -- the exported model inherits it")
        if self.calibration:
            c = self.calibration
            threshold = (
                f"threshold {c['recommended_threshold']:.2f} keeps {c['edge_share_at_threshold']:.0%} on the edge "
                f"at {c['accuracy_at_threshold']:.1%} accuracy"
                if c["recommended_threshold"] is not None
                else "no threshold recommended"
                if c.get("warnings")
                else f"no threshold reaches {c['target_accuracy']:.0%} accuracy"
            )
            lines.append(f"calibration: ECE {c['ece_before']:.3f} -> {c['ece_after']:.3f}; {threshold}")
            lines.extend(f"warning: {warning}" for warning in c.get("warnings", []))
        for a in self.artifacts:
            size = f"{a.size_bytes / 1e6:7.2f} MB" if a.size_bytes else "      -   "
            parity = ""
            if a.parity and "max_abs_diff" in a.parity:
                parity = f"max|dp| {a.parity['max_abs_diff']:.2e} top-1 {a.parity['top1_agreement']:.1%}"
            elif a.parity:
                parity = f"parity {a.parity.get('numeric')}"
            gate = ""
            if a.gate:
                gate = f" acc {a.gate['fp32_accuracy']:.1f}->{a.gate['int8_accuracy']:.1f}"
                if a.gate.get("simulated"):
                    gate += " (simulated)"
            seconds = f"{a.seconds:5.1f} s" if a.seconds is not None else ""
            lines.append(
                f"  {a.format:<10} {a.precision:<4} {a.status:<13} {size} {seconds:>7}  {parity}{gate}"
                + (f"  ERROR: {a.error}" if a.error else "")
            )
        if self.bundle:
            lines.append(f"bundle: {self.bundle}")
        return lines


# ---------------------------------------------------------------- samples
@dataclass
class _Samples:
    validation: np.ndarray
    validation_labels: np.ndarray | None  # None when generated
    calibration: np.ndarray | None  # training inputs for INT8; None when the data is unavailable
    source: str
    data_problem: str | None = None


def _load_samples(run_dir: Path, trained: TrainedModel, config: ExportConfig, want_int8: bool) -> _Samples:
    """Real validation (and training) inputs from the run; generated inputs when the data is gone."""
    try:
        from nightscan_edge.data.samples import load_run_samples

        inputs, labels, _ = load_run_samples(run_dir, "val", limit=config.validation_samples, seed=0)
        calibration = None
        if want_int8:
            calibration, _, _ = load_run_samples(run_dir, "train", limit=config.calibration_samples, seed=1)
        return _Samples(inputs, labels, calibration, f"validation split ({len(labels)} inputs)")
    except (ValueError, OSError, ImportError) as error:  # DataError is a ValueError; files may be gone
        generated = example_input(trained.model, batch=config.parity_samples, seed=0).numpy()
        return _Samples(
            generated, None, None, f"generated ({len(generated)} inputs; run data unavailable)", data_problem=str(error)
        )


def _torch_predict(module: torch.nn.Module, inputs: np.ndarray, logits: bool = False) -> np.ndarray:
    outputs = []
    with torch.no_grad():
        for start in range(0, len(inputs), _TORCH_BATCH):
            batch = torch.from_numpy(np.ascontiguousarray(inputs[start : start + _TORCH_BATCH]))
            outputs.append((module.logits(batch) if logits else module(batch)).numpy())
    return np.concatenate(outputs).astype(np.float32)


def _runner_predict(runner, inputs: np.ndarray, batch: int = 16) -> np.ndarray:
    return np.concatenate([runner.predict(inputs[i : i + batch]) for i in range(0, len(inputs), batch)])


def _size_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else path.stat().st_size


# ---------------------------------------------------------------- one artifact
class _Exporter:
    """Holds what every format needs (model, manifest fields, samples) for one export."""

    def __init__(
        self,
        trained: TrainedModel,
        module: ExportableClassifier,
        out_dir: Path,
        export_id: str,
        samples: _Samples,
        config: ExportConfig,
        calibration_summary: dict | None,
        progress: Callable[[str], None],
    ) -> None:
        self.trained, self.module, self.out_dir, self.export_id = trained, module, out_dir, export_id
        self.samples, self.config, self.calibration_summary, self.progress = (
            samples,
            config,
            calibration_summary,
            progress,
        )
        parity_count = min(config.parity_samples, len(samples.validation))
        self.parity_inputs = samples.validation[:parity_count]
        self.parity_reference = _torch_predict(module, self.parity_inputs)
        self.validation_reference = _torch_predict(module, samples.validation)
        self.example = torch.from_numpy(np.ascontiguousarray(samples.validation[:1]))
        self.manifests: dict[str, dict] = {}

    def manifest(self, fmt: ExportFormat, precision: str, dynamic_batch: bool) -> dict:
        spec = self.trained.spec
        return build_manifest(
            format_name=fmt.name,
            precision=precision,
            model_name=self.trained.model_name,
            run_id=self.trained.run_id,
            labels=self.trained.labels,
            spec=spec.model_dump(mode="json"),
            input_name=INPUT_NAME,
            input_shape=[-1 if dynamic_batch else 1, *spec.input_shape],
            output_name=OUTPUT_NAME,
            temperature=1.0 / float(self.module.inverse_temperature),
            export_id=self.export_id,
            extra={"calibration": self.calibration_summary, "file": fmt.artifact_name(precision)},
            licence=self.trained.licence,
        )

    def embed(self, fmt: ExportFormat, path: Path, manifest: dict) -> None:
        if fmt.name == "onnx":
            embed_onnx(path, manifest)
        elif fmt.name == "coreml":
            from nightscan_edge.export.coreml_format import embed_coreml

            embed_coreml(path, manifest)
        else:
            embed_appended_zip(path, manifest)
        self.manifests[path.name] = manifest

    def write(self, fmt: ExportFormat, precision: str, path: Path) -> bool:
        """Produce the bare artifact; returns whether its batch dimension is dynamic."""
        if precision == "fp32":
            if fmt.name == "onnx":
                from nightscan_edge.export.onnx_format import export_onnx

                return export_onnx(self.module, self.example, path)
            if fmt.name == "tflite":
                from nightscan_edge.export.tflite_format import export_tflite

                return export_tflite(self.module, self.example, path)
            if fmt.name == "coreml":
                from nightscan_edge.export.coreml_format import export_coreml

                return export_coreml(self.module, self.example, path, self.trained.labels)
            from nightscan_edge.export.executorch_format import export_executorch

            return export_executorch(self.module, self.example, path)
        if self.samples.calibration is None:
            raise ExportError(
                "INT8 needs the run's training and validation data (calibration and quality gate); "
                f"it could not be read: {self.samples.data_problem}"
            )
        fp32_path = self.out_dir / fmt.artifact_name("fp32")
        if fmt.name == "onnx":
            from nightscan_edge.export.onnx_format import quantize_onnx

            quantize_onnx(fp32_path, path, self.samples.calibration)
            return True
        if fmt.name == "tflite":
            from nightscan_edge.export.tflite_format import quantize_tflite

            quantize_tflite(fp32_path, path, self.samples.calibration)
            return False
        if fmt.name == "coreml":
            from nightscan_edge.export.coreml_format import quantize_coreml

            quantize_coreml(fp32_path, path)
            return False
        from nightscan_edge.export.executorch_format import quantize_executorch

        quantize_executorch(self.module, self.example, path, self.samples.calibration)
        return False

    def run(self, fmt: ExportFormat, precision: str) -> ArtifactResult:
        path = self.out_dir / fmt.artifact_name(precision)
        result = ArtifactResult(fmt.name, precision, "failed", file=path.name)
        started = time.perf_counter()
        try:
            if precision != "fp32" and not (self.out_dir / fmt.artifact_name("fp32")).exists():
                raise ExportError(f"no FP32 {fmt.name} artifact to quantize (its export failed)")
            dynamic = self.write(fmt, precision, path)
            result.dynamic_batch = dynamic
            manifest = self.manifest(fmt, precision, dynamic)
            self.embed(fmt, path, manifest)
            if fmt.name == "coreml":
                self._check_coreml(path, manifest, result, precision)
            else:
                self._check_in_runtime(path, result, precision, dynamic)
            manifest["parity"] = result.parity
            if result.gate:
                manifest["quality_gate"] = result.gate
            self.embed(fmt, path, manifest)  # now with the measured parity inside the file
            result.size_bytes = _size_bytes(path)
            if result.status == "rejected":
                self._reject(path, result)
        except Exception as error:  # recorded per format (status + message), the other formats go on
            result.status, result.error = "failed", f"{type(error).__name__}: {error}".splitlines()[0][:500]
            self.manifests.pop(path.name, None)
            self._remove(path)
        result.seconds = round(time.perf_counter() - started, 2)
        self.progress(f"{fmt.name} {precision}: {result.status}" + (f" ({result.error})" if result.error else ""))
        return result

    def _check_in_runtime(self, path: Path, result: ArtifactResult, precision: str, dynamic: bool) -> None:
        from nightscan_edge.runtime import load_runner

        runner = load_runner(path, threads=1)
        if runner.dynamic_batch != dynamic:
            raise ExportError(f"{path.name}: runtime reports dynamic_batch={runner.dynamic_batch}, exporter {dynamic}")
        sizes = [1, 4] if dynamic else [1]
        for size in sizes:  # a dynamic batch must really run at 1 and 4 and give the per-sample answers
            batch = self.parity_inputs[:size]
            if len(batch) == size:
                together = runner.predict(batch)
                one_by_one = np.concatenate([runner.predict(batch[i : i + 1]) for i in range(size)])
                if together.shape != (size, len(self.trained.labels)) or not np.allclose(
                    together, one_by_one, atol=1e-5
                ):
                    raise ExportError(f"{path.name}: batch of {size} disagrees with per-sample results")
                result.batch_sizes_checked.append(size)
        candidate = _runner_predict(runner, self.samples.validation if precision != "fp32" else self.parity_inputs)
        reference = self.validation_reference if precision != "fp32" else self.parity_reference
        parity = measure_parity(reference, candidate, self.samples.source.split(" (")[0], precision)
        result.parity = parity.to_dict()
        if precision == "fp32":
            result.status = "ok" if parity.passed else "parity_failed"
            if not parity.passed:
                result.error = (
                    f"parity off target: max |dp| {parity.max_abs_diff:.2e} (<= 1e-4), "
                    f"top-1 {parity.top1_agreement:.1%} (100 %)"
                )
        else:
            self._gate(candidate, result)

    def _check_coreml(self, path: Path, manifest: dict, result: ArtifactResult, precision: str) -> None:
        from nightscan_edge.export.coreml_format import check_coreml_spec, simulate_weight_int8

        result.spec_check = check_coreml_spec(path, manifest)
        result.parity = needs_macos()
        if precision == "fp32":
            result.status = "ok"
            return
        # Gate on a PyTorch copy with the same INT8 weights (Core ML itself cannot run here).
        self._gate(_torch_predict(simulate_weight_int8(self.module), self.samples.validation), result)
        result.gate["simulated"] = "PyTorch with the same per-channel INT8 weights; Core ML predicts only on macOS"

    def _gate(self, int8_probabilities: np.ndarray, result: ArtifactResult) -> None:
        gate = quality_gate(
            self.validation_reference,
            int8_probabilities,
            self.samples.validation_labels,
            self.trained.labels,
            self.config.max_accuracy_drop,
            self.config.max_class_recall_drop,
        )
        result.gate = gate.to_dict()
        result.status = "ok" if gate.passed else "rejected"
        if not gate.passed:
            result.error = f"INT8 quality gate failed: {gate.reason}"

    def _reject(self, path: Path, result: ArtifactResult) -> None:
        rejected = self.out_dir / REJECTED_DIR
        rejected.mkdir(exist_ok=True)
        target = rejected / path.name
        self._remove(target)
        shutil.move(str(path), str(target))
        result.file = f"{REJECTED_DIR}/{path.name}"

    @staticmethod
    def _remove(path: Path) -> None:
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()


# ---------------------------------------------------------------- the run
def _export_config(run_dir: Path, config: ExportConfig | None) -> ExportConfig:
    if config is not None:
        return config
    if (run_dir / "config.yaml").is_file():
        return load_config(run_dir / "config.yaml").export
    return ExportConfig()


def _new_export_id() -> str:
    import secrets

    return f"export-{time.strftime('%Y%m%d-%H%M%S', time.gmtime())}-{secrets.token_hex(2)}"


def export_run(
    run_dir: str | Path,
    formats: list[str] | str | None = None,
    int8: bool | None = None,
    out_dir: str | Path | None = None,
    config: ExportConfig | None = None,
    progress: Callable[[str], None] | None = None,
) -> ExportReport:
    """Export a trained run to the requested formats; see the module docstring and README "Export" section.

    ``formats``/``int8`` default to the run's ``export`` config section; ``out_dir`` to
    ``<run>/exports/<export_id>/`` (an existing ``out_dir``'s name is the export id).
    """
    started = time.perf_counter()
    run_dir = Path(run_dir)
    config = _export_config(run_dir, config)
    selected = validate_formats(formats if formats is not None else config.formats)
    int8 = config.int8 if int8 is None else int8
    progress = progress or (lambda message: None)
    trained = load_trained_model(run_dir)
    if getattr(trained.model, "takes_embeddings", False):
        raise ExportError(
            f"{run_dir} is a {trained.model_name} run: it runs behind frozen BirdNET (52 MB) and is the server model, "
            "not a phone model; serve it with `nightscan-edge serve-model`, or distill it into an edge model with "
            f"`nightscan-edge train --model ultralight_audio --teacher {run_dir}` and export that"
        )
    run_dir = trained.run_dir
    export_id = Path(out_dir).name if out_dir is not None else _new_export_id()
    out_dir = Path(out_dir) if out_dir is not None else run_dir / EXPORTS_DIR / export_id
    out_dir.mkdir(parents=True, exist_ok=True)

    samples = _load_samples(run_dir, trained, config, want_int8=int8)
    progress(f"samples: {samples.source}" + (f" -- {samples.data_problem}" if samples.data_problem else ""))
    temperature, calibration_summary = _calibrate(trained, samples, config, out_dir)
    module = ExportableClassifier(trained.model, temperature)
    exporter = _Exporter(trained, module, out_dir, export_id, samples, config, calibration_summary, progress)

    results = []
    for fmt in selected:
        results.append(exporter.run(fmt, "fp32"))
        if int8 and fmt.int8:
            results.append(exporter.run(fmt, "int8"))
    report = ExportReport(
        export_id,
        trained.run_id,
        trained.model_name,
        out_dir,
        temperature,
        samples.source,
        results,
        calibration_summary,
        licence=trained.licence,
    )
    _write_side_files(report, exporter, trained)
    from nightscan_edge.export.bundle import write_bundle

    report.bundle = write_bundle(report, exporter.manifests)
    report.seconds = round(time.perf_counter() - started, 2)
    (out_dir / "export_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    return report


def _calibrate(
    trained: TrainedModel, samples: _Samples, config: ExportConfig, out_dir: Path
) -> tuple[float, dict | None]:
    """Fit T on validation logits (or keep the checkpoint's); write calibration.json + reliability.png."""
    existing = float(trained.temperature) if trained.temperature else 1.0
    if samples.validation_labels is None:
        return existing, None
    logits = _torch_predict(ExportableClassifier(trained.model, 1.0), samples.validation, logits=True)
    report = calibration_module.calibrate(
        logits,
        samples.validation_labels,
        config.target_accuracy,
        fit=config.calibrate_temperature,
        fixed_temperature=existing,
    )
    (out_dir / "calibration.json").write_text(json.dumps(asdict(report), indent=2))
    calibration_module.plot_reliability(report, out_dir / "reliability.png")
    return report.temperature, report.summary()


def _write_side_files(report: ExportReport, exporter: _Exporter, trained: TrainedModel) -> None:
    out_dir = report.out_dir
    (out_dir / LABELS_FILE).write_text("\n".join(trained.labels) + "\n")
    parity = {
        a.file: {
            "format": a.format,
            "precision": a.precision,
            "status": a.status,
            "parity": a.parity,
            "gate": a.gate,
            "error": a.error,
            "batch_sizes_checked": a.batch_sizes_checked,
        }
        for a in report.artifacts
    }
    (out_dir / "parity.json").write_text(json.dumps({"inputs": report.samples, "artifacts": parity}, indent=2))
    spec = trained.spec
    beside = {
        "export_id": report.export_id,
        "model_name": trained.model_name,
        "run_id": trained.run_id,
        "labels": trained.labels,
        "input": {
            "name": INPUT_NAME,
            "shape": [-1, *spec.input_shape],
            "dtype": "float32",
            "spec": spec.model_dump(mode="json"),
        },
        "output": {"name": OUTPUT_NAME, "meaning": "probabilities", "temperature_applied": True},
        "temperature": report.temperature,
        "calibration": report.calibration,
        "package_version": next(iter(exporter.manifests.values()), {}).get("package_version"),
        "artifacts": {
            name: {
                **manifest,
                "status": next((a.status for a in report.artifacts if a.file and a.file.endswith(name)), None),
            }
            for name, manifest in exporter.manifests.items()
        },
    }
    (out_dir / MANIFEST_FILE).write_text(manifest_json(beside))
