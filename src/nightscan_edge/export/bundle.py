"""``bundle.zip``: what an app developer downloads -- the artifacts that passed, manifest, labels, parity
report, calibration figures and a USAGE.md written for this exact model."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from nightscan_edge.artifact import FORMATS, LABELS_FILE, MANIFEST_FILE
from nightscan_edge.export.report import ExportReport

BUNDLE_FILE = "bundle.zip"
USAGE_FILE = "USAGE.md"
SIDE_FILES = (MANIFEST_FILE, LABELS_FILE, "parity.json", "calibration.json", "reliability.png", USAGE_FILE)


def usage_text(report: ExportReport, manifests: dict[str, dict[str, Any]]) -> str:
    any_manifest = next(iter(manifests.values()))
    spec = any_manifest["input"]["spec"]
    labels = any_manifest["labels"]
    if spec["kind"] == "audio":
        front_end = (
            "BirdNET V2.4's own spectrogram"
            if report.model_name == "birdnet_head"
            else f"The log-mel front-end (n_fft {spec['n_fft']}, hop {spec['hop_length']}, {spec['n_mels']} mel bands)"
        )
        input_text = (
            f"raw mono waveform, float32, shape `(batch, {spec['clip_samples']})`: "
            f"{spec['clip_samples']} samples = {spec['clip_samples'] / spec['sample_rate']:.3f} s at "
            f"**{spec['sample_rate']} Hz** (resample recordings to this rate), values in [-1, 1] as decoded from "
            f"PCM. {front_end} is inside the "
            "model: do not compute a spectrogram. Longer recordings: slide a window of that length; shorter "
            f"clips: pad by {'repeating the clip' if spec.get('pad_mode') == 'loop' else 'zeros'}."
        )
    else:
        input_text = (
            f"image, float32, NCHW `(batch, {spec['channels']}, {spec['image_size']}, {spec['image_size']})`: "
            f"resize to {spec['image_size']}x{spec['image_size']}, scale pixels to [0, 1], then "
            f"`(x - mean) / std` per channel with mean {list(spec['mean'])} and std {list(spec['std'])}."
        )
    rows = []
    for artifact in report.artifacts:
        if artifact.status != "ok" or artifact.file is None or artifact.size_bytes is None:
            continue  # an "ok" artifact always has its file and size
        manifest = manifests[Path(artifact.file).name]
        batch = "dynamic" if manifest["input"]["shape"][0] == -1 else "1"
        if artifact.parity and "max_abs_diff" in artifact.parity:
            parity = (
                f"max abs prob diff {artifact.parity['max_abs_diff']:.1e}, "
                f"top-1 {artifact.parity['top1_agreement']:.1%}"
            )
        else:
            parity = "numeric check needs macOS; spec checked"
        rows.append(
            f"| `{artifact.file}` | {manifest['format']} | {manifest['precision']} | {batch} | "
            f"{artifact.size_bytes / 1e6:.2f} MB | {parity} |"
        )
    calibration = report.calibration
    threshold = ""
    if calibration and calibration.get("recommended_threshold") is not None:
        threshold = (
            f"\nRecommended edge threshold: **{calibration['recommended_threshold']:.2f}** -- on the validation "
            f"split it keeps {calibration['edge_share_at_threshold']:.0%} of inputs on the device at "
            f"{calibration['accuracy_at_threshold']:.1%} accuracy; send the rest to the server.\n"
        )
    formats = sorted({a.format for a in report.artifacts if a.status == "ok"})
    return "\n".join(
        [
            f"# {any_manifest['model_name']} -- exported by nightscan-edge {any_manifest['package_version']}",
            "",
            f"Run `{report.run_id}`, export `{report.export_id}`. {len(labels)} classes.",
            "",
            *(
                [
                    "## Licence",
                    f"This model was trained with knowledge from pretrained weights licensed **{report.licence}**; "
                    "it inherits those terms (manifest field `licence`).",
                    "",
                ]
                if report.licence
                else []
            ),
            "## Files",
            "| file | format | precision | batch | size | parity vs PyTorch |",
            "|---|---|---|---|---|---|",
            *rows,
            "",
            "## Input",
            f"Tensor `{any_manifest['input']['name']}`: {input_text}",
            "",
            "## Output",
            _output_text(any_manifest, len(labels), report.temperature),
            threshold,
            "## Labels and manifest",
            "`labels.txt` (one label per line, model output order) and `manifest.json` sit beside the models, "
            "and every "
            "model file carries the same manifest inside:",
            *[f"- {FORMATS[name].manifest_location}" for name in formats],
            "",
            "In Python: `nightscan_edge.export.read_manifest(path)` and "
            "`nightscan_edge.runtime.load_runner(path).predict(x)`.",
            "",
        ]
    )


def _output_text(manifest: dict[str, Any], classes: int, temperature: float) -> str:
    """What the output tensor holds: softmax probabilities, or one sigmoid score per class with its threshold."""
    name = manifest["output"]["name"]
    if manifest.get("objective") == "multilabel":
        thresholds = ", ".join(f"{label} {value:.3f}" for label, value in (manifest.get("thresholds") or {}).items())
        return (
            f"Tensor `{name}`: float32 `(batch, {classes})` **multi-label scores** (one sigmoid per class, already "
            "applied; they do not sum to 1). Several animals at once: every class whose score reaches its own "
            f"threshold is present -- {thresholds} (manifest `thresholds`). Index i is the i-th line of `labels.txt`."
        )
    return (
        f"Tensor `{name}`: float32 `(batch, {classes})` **probabilities** (softmax, already divided by the "
        f"calibration temperature {temperature:.3f}; do not apply softmax or the temperature again). Index i is the "
        "i-th line of `labels.txt`."
    )


def write_bundle(report: ExportReport, manifests: dict[str, dict[str, Any]]) -> Path | None:
    """Write USAGE.md and bundle.zip; None when no artifact passed (nothing to ship)."""
    shipped = [report.out_dir / a.file for a in report.artifacts if a.status == "ok" and a.file]
    if not shipped:
        return None
    (report.out_dir / USAGE_FILE).write_text(usage_text(report, manifests))
    bundle = report.out_dir / BUNDLE_FILE
    with zipfile.ZipFile(bundle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in shipped:
            if path.is_dir():  # .mlpackage
                for file in sorted(p for p in path.rglob("*") if p.is_file()):
                    archive.write(file, file.relative_to(report.out_dir).as_posix())
            else:
                archive.write(path, path.name)
        for name in SIDE_FILES:
            if (report.out_dir / name).is_file():
                archive.write(report.out_dir / name, name)
    return bundle
