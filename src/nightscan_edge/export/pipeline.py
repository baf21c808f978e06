"""``export_run``: one trained run -> ``runs/<run>/exports/<export_id>/`` with every requested artifact.

Order of work: validate the request against the format table; rebuild the trained model; fit the
calibration temperature on the validation split; then per format write FP32 (and INT8), embed the
manifest, load the file in its own runtime and measure parity (and the INT8 quality gate) -- one
``Exporter.run`` each. One failing format is recorded with its error and does not stop the others; the
bundle holds what passed.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from nightscan_edge.artifact import (
    INPUT_NAME,
    LABELS_FILE,
    MANIFEST_FILE,
    OUTPUT_NAME,
    ExportError,
    ExportManifest,
    validate_formats,
)
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.atomic import write_text_atomic
from nightscan_edge.checkpoint import TrainedModel, load_trained_model
from nightscan_edge.config import ExportConfig
from nightscan_edge.export import calibration as calibration_module
from nightscan_edge.export.birdnet_phone import is_frozen_birdnet, phone_formats
from nightscan_edge.export.bundle import write_bundle
from nightscan_edge.export.exporter import REJECTED_DIR, Exporter
from nightscan_edge.export.report import ArtifactResult, ExportReport
from nightscan_edge.export.samples import Samples, load_samples, torch_predict
from nightscan_edge.objective import activation_for
from nightscan_edge.run_folder import RunFolder

__all__ = ["EXPORTS_DIR", "REJECTED_DIR", "ArtifactResult", "ExportReport", "export_run"]

EXPORTS_DIR = RunFolder.EXPORTS


def _export_config(run_dir: Path, config: ExportConfig | None) -> ExportConfig:
    if config is not None:
        return config
    run = RunFolder(run_dir)
    if run.config.is_file():
        return run.read_config().export
    return ExportConfig()


def _new_export_id() -> str:
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
    if trained.multilabel and trained.thresholds is None:  # checked before anything is written
        raise ExportError(
            f"{trained.checkpoint_path} is a multilabel model without per-class thresholds (training chooses them "
            "on validation after the last epoch); finish or re-run the training, then export"
        )
    skipped: list[ArtifactResult] = []
    if is_frozen_birdnet(trained):  # BirdNET's own LiteRT graph + the head; checked before anything is written
        selected, skipped = phone_formats(selected, trained, from_config=formats is None)
        for result in skipped:
            progress(str(result.error))
    run_dir = trained.run_dir
    export_id = Path(out_dir).name if out_dir is not None else _new_export_id()
    out_dir = Path(out_dir) if out_dir is not None else run_dir / EXPORTS_DIR / export_id
    out_dir.mkdir(parents=True, exist_ok=True)

    samples = load_samples(run_dir, trained, config, want_int8=int8)
    progress(f"samples: {samples.source}" + (f" -- {samples.data_problem}" if samples.data_problem else ""))
    temperature, calibration_summary = _calibrate(trained, samples, config, out_dir)
    module = ExportableClassifier(trained.model, temperature, activation_for(trained.objective))
    exporter = Exporter(trained, module, out_dir, export_id, samples, config, calibration_summary, progress)

    results = []
    for fmt in selected:
        results.append(exporter.run(fmt, "fp32"))
        results += [exporter.run(fmt, precision) for precision in fmt.extra_precisions]
        if int8 and fmt.int8:
            results.append(exporter.run(fmt, "int8"))
    results += skipped
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
    report.bundle = write_bundle(report, exporter.manifests)
    report.seconds = round(time.perf_counter() - started, 2)
    write_text_atomic(out_dir / "export_report.json", json.dumps(report.to_dict(), indent=2))
    return report


def _calibrate(
    trained: TrainedModel, samples: Samples, config: ExportConfig, out_dir: Path
) -> tuple[float, dict[str, Any] | None]:
    """Fit T on validation logits (or keep the checkpoint's); write calibration.json + reliability.png."""
    existing = float(trained.temperature) if trained.temperature else 1.0
    if trained.multilabel:
        # The thresholds were chosen on the model's own sigmoid scores: a temperature would move every score
        # off the threshold it was chosen for, so a multi-label file keeps T = 1.
        return 1.0, None
    if samples.validation_labels is None:
        return existing, None
    logits = torch_predict(ExportableClassifier(trained.model, 1.0), samples.validation, logits=True)
    report = calibration_module.calibrate(
        logits,
        samples.validation_labels,
        config.target_accuracy,
        fit=config.calibrate_temperature,
        fixed_temperature=existing,
    )
    write_text_atomic(out_dir / "calibration.json", json.dumps(asdict(report), indent=2))
    calibration_module.plot_reliability(report, out_dir / "reliability.png")
    return report.temperature, report.summary()


def _write_side_files(report: ExportReport, exporter: Exporter, trained: TrainedModel) -> None:
    out_dir = report.out_dir
    write_text_atomic(out_dir / LABELS_FILE, "\n".join(trained.labels) + "\n")
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
    write_text_atomic(out_dir / "parity.json", json.dumps({"inputs": report.samples, "artifacts": parity}, indent=2))
    spec = trained.spec
    beside = ExportManifest.model_validate(
        {
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
            "output": {
                "name": OUTPUT_NAME,
                "meaning": "probabilities",
                "temperature_applied": True,
                "activation": activation_for(trained.objective),
            },
            "objective": trained.objective,
            "thresholds": trained.thresholds,
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
    )
    write_text_atomic(out_dir / MANIFEST_FILE, beside.to_json())
