"""One artifact of one export: write it, embed the manifest, check it in its runtime, gate INT8.

Every format-specific step is a call on the format's row (``nightscan_edge.artifact``): this file never asks
which format it holds.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nightscan_edge.artifact import INPUT_NAME, OUTPUT_NAME, ArtifactFormat, ExportError, Manifest
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.checkpoint import TrainedModel
from nightscan_edge.config import ExportConfig
from nightscan_edge.export.multilabel_gate import MultilabelGateResult, multilabel_quality_gate
from nightscan_edge.export.parity import measure_parity, needs_macos
from nightscan_edge.export.quality_gate import GateResult, quality_gate
from nightscan_edge.export.report import ArtifactResult
from nightscan_edge.export.samples import Samples, runner_predict, size_bytes, torch_predict
from nightscan_edge.runtime import load_runner

REJECTED_DIR = "rejected"  # INT8 files that failed the gate: kept for inspection, out of the bundle and benches


class Exporter:
    """Holds what every format needs (model, manifest fields, samples) for one export."""

    def __init__(
        self,
        trained: TrainedModel,
        module: ExportableClassifier,
        out_dir: Path,
        export_id: str,
        samples: Samples,
        config: ExportConfig,
        calibration_summary: dict[str, Any] | None,
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
        self.parity_reference = torch_predict(module, self.parity_inputs)
        self.validation_reference = torch_predict(module, samples.validation)
        self.example = torch.from_numpy(np.ascontiguousarray(samples.validation[:1]))
        self.manifests: dict[str, dict[str, Any]] = {}
        # multi-label: the per-class thresholds in output order, for parity's present/absent decisions
        thresholds = trained.thresholds
        self.thresholds = np.array([thresholds[label] for label in trained.labels]) if thresholds is not None else None

    def manifest(self, fmt: ArtifactFormat, precision: str, dynamic_batch: bool) -> Manifest:
        spec = self.trained.spec
        return Manifest.build(
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
            objective=self.trained.objective,
            thresholds=self.trained.thresholds,
            extra={
                "calibration": self.calibration_summary,
                "file": fmt.artifact_name(precision),
                # terms inherited from pretrained weights (a BirdNET-distilled student: CC BY-NC-SA 4.0)
                **({"licence": self.trained.licence} if self.trained.licence else {}),
            },
        )

    def embed(self, fmt: ArtifactFormat, path: Path, manifest: Manifest) -> None:
        data = manifest.to_dict()
        fmt.embed_manifest(path, data)
        self.manifests[path.name] = data

    def write(self, fmt: ArtifactFormat, precision: str, path: Path, keep_float: tuple[str, ...] = ()) -> bool:
        """Produce the bare artifact; returns whether its batch dimension is dynamic."""
        if precision == "fp32":
            return fmt.export(self.module, self.example, path, self.trained.labels)
        if precision == "fp16":
            return fmt.half(self.out_dir / fmt.artifact_name("fp32"), path)
        return fmt.quantize(
            self.out_dir / fmt.artifact_name("fp32"),
            path,
            self.module,
            self.example,
            self._calibration(),
            keep_float,
        )

    def _calibration(self) -> np.ndarray:
        if self.samples.calibration is None:
            raise ExportError(
                "INT8 needs the run's training and validation data (calibration and quality gate); "
                f"it could not be read: {self.samples.data_problem}"
            )
        return self.samples.calibration

    def run(self, fmt: ArtifactFormat, precision: str) -> ArtifactResult:
        path = self.out_dir / fmt.artifact_name(precision)
        started = time.perf_counter()
        result = self._attempt(fmt, precision, path)
        if result.status == "rejected" and self.config.int8_float_fallback > 0:
            result = self._retry_with_float_layers(fmt, precision, path, result)
        if result.status == "rejected":
            self._reject(path, result)
        result.seconds = round(time.perf_counter() - started, 2)
        self.progress(f"{fmt.name} {precision}: {result.status}" + (f" ({result.error})" if result.error else ""))
        return result

    def _retry_with_float_layers(
        self, fmt: ArtifactFormat, precision: str, path: Path, first: ArtifactResult
    ) -> ArtifactResult:
        """Accuracy-aware INT8: keep the 1, 2, ... most quantization-sensitive layers in float until the gate
        passes (at most ``export.int8_float_fallback``). The ranking comes from training inputs, so the gate
        still judges data the choice never saw; every try is recorded in the gate's ``tries``."""
        try:
            ranked = fmt.sensitive_layers(self.out_dir / fmt.artifact_name("fp32"), self._calibration())
        except Exception as error:  # the all-INT8 verdict stands; say why no retry happened
            reason = f"{type(error).__name__}: {error}".splitlines()[0][:300]
            first.gate = {**(first.gate or {}), "fallback_error": reason}
            self.progress(f"{fmt.name} {precision}: no retry with float layers ({reason})")
            return first
        tries = [{"float_layers": [], "passed": False, "reason": (first.gate or {}).get("reason", "")}]
        result = first
        for count in range(1, min(self.config.int8_float_fallback, len(ranked) - 1) + 1):  # >= 1 stays INT8
            keep = tuple(ranked[:count])
            self.progress(f"{fmt.name} {precision}: gate failed; retrying with {count} layer(s) in float")
            result = self._attempt(fmt, precision, path, keep)
            gate = result.gate or {}
            tries.append({"float_layers": list(keep), "passed": bool(gate.get("passed")), "reason": gate.get("reason")})
            if result.status != "rejected":
                break
        if result.gate is not None:
            result.gate["tries"] = tries
            result.gate["float_layers"] = tries[-1]["float_layers"] if result.status == "ok" else []
            self._embed_gate(fmt, path, precision, result)
            result.size_bytes = size_bytes(path)
        return result

    def _attempt(
        self, fmt: ArtifactFormat, precision: str, path: Path, keep_float: tuple[str, ...] = ()
    ) -> ArtifactResult:
        result = ArtifactResult(fmt.name, precision, "failed", file=path.name)
        try:
            if precision != "fp32" and not (self.out_dir / fmt.artifact_name("fp32")).exists():
                raise ExportError(f"no FP32 {fmt.name} artifact to quantize (its export failed)")
            dynamic = self.write(fmt, precision, path, keep_float)
            result.dynamic_batch = dynamic
            manifest = self.manifest(fmt, precision, dynamic)
            self.embed(fmt, path, manifest)
            if fmt.portable:
                self._check_in_runtime(path, result, precision, dynamic)
            else:
                self._check_structure(fmt, path, manifest.to_dict(), result, precision)
            self._embed_gate(fmt, path, precision, result)  # now with the measured parity inside the file
            result.size_bytes = size_bytes(path)
        except Exception as error:  # recorded per format (status + message), the other formats go on
            result.status, result.error = "failed", f"{type(error).__name__}: {error}".splitlines()[0][:500]
            self.manifests.pop(path.name, None)
            self._remove(path)
        return result

    def _embed_gate(self, fmt: ArtifactFormat, path: Path, precision: str, result: ArtifactResult) -> None:
        """Re-embed the manifest with the measured parity and gate (tries included) inside the file."""
        manifest = self.manifest(fmt, precision, bool(result.dynamic_batch))
        manifest.parity = result.parity
        if result.gate:
            manifest.quality_gate = result.gate
        self.embed(fmt, path, manifest)

    def _check_in_runtime(self, path: Path, result: ArtifactResult, precision: str, dynamic: bool) -> None:
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
        candidate = runner_predict(runner, self.samples.validation if precision != "fp32" else self.parity_inputs)
        reference = self.validation_reference if precision != "fp32" else self.parity_reference
        targets = self.samples.validation_labels
        if targets is not None and precision == "fp32":
            targets = targets[: len(self.parity_inputs)]
        multilabel = self.thresholds is not None
        parity = measure_parity(
            reference,
            candidate,
            self.samples.source.split(" (")[0],
            precision,
            thresholds=self.thresholds,
            targets=targets if multilabel else None,
        )
        result.parity = parity.to_dict()
        if precision == "fp32":
            result.status = "ok" if parity.passed else "parity_failed"
            if not parity.passed:
                decided = (
                    f"decisions at the thresholds {parity.threshold_agreement:.1%}"
                    if parity.threshold_agreement is not None
                    else f"top-1 {parity.top1_agreement:.1%}"
                )
                result.error = f"parity off target: max |dp| {parity.max_abs_diff:.2e} (<= 1e-4), {decided} (100 %)"
        else:
            self._gate(candidate, result)

    def _check_structure(
        self, fmt: ArtifactFormat, path: Path, manifest: dict[str, Any], result: ArtifactResult, precision: str
    ) -> None:
        """A file this machine cannot run: its structure is checked, INT8 is gated on a PyTorch stand-in."""
        result.spec_check = fmt.check_structure(path, manifest)
        result.parity = needs_macos(fmt.unavailable_reason)
        if precision == "fp32":
            result.status = "ok"
            return
        simulated, note = fmt.simulate_int8(self.module)
        self._gate(torch_predict(simulated, self.samples.validation), result)["simulated"] = note

    def _gate(self, int8_probabilities: np.ndarray, result: ArtifactResult) -> dict[str, Any]:
        """Gate an INT8 file's validation predictions; the verdict goes into ``result`` and is returned."""
        labels = self.samples.validation_labels
        if labels is None:  # INT8 is refused earlier (_calibration) when the run's data is unavailable
            raise ExportError("the INT8 quality gate needs the run's labeled validation data")
        gate: GateResult | MultilabelGateResult
        if self.trained.multilabel:
            gate = multilabel_quality_gate(
                self.validation_reference,
                int8_probabilities,
                labels,
                self.trained.labels,
                self.config.max_map_drop,
                self.config.max_class_ap_drop,
            )
        else:
            gate = quality_gate(
                self.validation_reference,
                int8_probabilities,
                labels,
                self.trained.labels,
                self.config.max_accuracy_drop,
                self.config.max_class_recall_drop,
            )
        result.gate = record = gate.to_dict()
        result.status = "ok" if gate.passed else "rejected"
        if not gate.passed:
            result.error = f"{result.precision.upper()} quality gate failed: {gate.reason}"
        return record

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
