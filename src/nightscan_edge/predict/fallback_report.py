"""What the edge -> server fallback buys on labeled data: share sent to the server and accuracies.

The threshold comes from the export's coverage-accuracy recommendation when the manifest carries one;
otherwise it is chosen here as the lowest threshold whose edge-kept inputs reach the server model's accuracy
on the same data (optimistic, since chosen and measured on one set -- the report says which was used).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.audio.decode import resample_windows
from nightscan_edge.data.samples import load_folder_samples, load_run_samples
from nightscan_edge.predict.classifier import Classifier, load_edge_classifier, load_server_classifier
from nightscan_edge.run_folder import RunFolder

THRESHOLDS = np.round(np.arange(0.0, 1.0001, 0.01), 2)


def combined_at(
    threshold: float, edge_probs: np.ndarray, server_probs: np.ndarray, labels: np.ndarray
) -> dict[str, float]:
    """Edge answers where confident (>= threshold), server answers elsewhere."""
    edge_pred, server_pred = edge_probs.argmax(1), server_probs.argmax(1)
    kept = edge_probs.max(1) >= threshold
    combined = np.where(kept, edge_pred, server_pred)
    return {
        "threshold": float(threshold),
        "share_to_server": float(1.0 - kept.mean()),
        "edge_kept_accuracy": float((edge_pred[kept] == labels[kept]).mean()) if kept.any() else float("nan"),
        "combined_accuracy": float((combined == labels).mean()),
    }


def recommend_threshold(edge_probs: np.ndarray, labels: np.ndarray, target_accuracy: float) -> float:
    """Lowest threshold whose kept inputs reach ``target_accuracy`` (1.0 = send everything unsure to the server)."""
    confidence, correct = edge_probs.max(1), edge_probs.argmax(1) == labels
    for threshold in THRESHOLDS:
        kept = confidence >= threshold
        if kept.any() and correct[kept].mean() >= target_accuracy:
            return float(threshold)
    return 1.0


def _manifest_threshold(manifest: dict[str, Any]) -> float | None:
    """The export's recommendation, wherever the calibration step put it in the manifest."""
    for section in ("calibration", "coverage"):
        value = (
            (manifest.get(section) or {}).get("recommended_threshold")
            if isinstance(manifest.get(section), dict)
            else None
        )
        if value is not None:
            return float(value)
    value = manifest.get("recommended_threshold")
    return float(value) if value is not None else None


def _run_split(run_dir: Path, split: str | None) -> str:
    """The held-out test split when the run has one: the export chose its threshold on the validation split,
    so measuring there again would flatter the threshold."""
    present = {entry.split for entry in RunFolder(run_dir).read_split().entries}
    if split is None:
        return "test" if "test" in present else "val"
    if split not in present:
        raise ValueError(f"the run {run_dir.name} has no '{split}' split (it has: {', '.join(sorted(present))})")
    return split


def _samples(
    edge: Classifier, artifact: Path, data_path: str | None, limit: int | None, split: str | None
) -> tuple[np.ndarray, np.ndarray, list[str], str]:
    """Inputs, targets and label names to score on, and where they came from."""
    if data_path:
        return (*load_folder_samples(data_path, edge.spec, edge.labels, limit=limit), data_path)
    run_dir = artifact.resolve().parents[2]  # runs/<run_id>/exports/<export_id>/<artifact>
    if not RunFolder(run_dir).split.is_file():
        raise ValueError(
            f"{artifact} is not inside a run's exports folder; pass --data with a labeled folder or manifest"
        )
    split = _run_split(run_dir, split)
    return (*load_run_samples(run_dir, split=split, limit=limit), f"run {split} split")


def fallback_report(
    artifact: str | Path,
    server_run: str | Path,
    data_path: str | None = None,
    limit: int | None = None,
    threads: int | None = None,
    edge: Classifier | None = None,
    server: Classifier | None = None,
    split: str | None = None,
) -> dict[str, Any]:
    """Edge-only, server-only and combined accuracy on ``data_path`` or the edge run's test (else val) split."""
    artifact = Path(artifact)
    edge = edge or load_edge_classifier(artifact, threads)
    if edge.multilabel:  # its figures are top-1 accuracy and one confidence threshold: neither fits sigmoid scores
        raise ValueError(
            f"{artifact.name} is a multilabel model: --fallback-report measures single-label top-1 accuracy; the "
            "multi-label fallback is set with --near-threshold (docs/multilabel.md)"
        )
    server = server or load_server_classifier(server_run)
    if server.spec != edge.spec and not (server.spec.kind == edge.spec.kind == "audio"):
        raise ValueError(
            "the server model's preprocessing differs from the edge model's; compare models sharing one spec"
        )
    if server.labels != edge.labels:
        raise ValueError(f"label sets differ: edge {edge.labels} vs server {server.labels}")
    inputs, labels, _, data_name = _samples(edge, artifact, data_path, limit, split)
    server_inputs = inputs
    if server.spec != edge.spec:  # e.g. birdnet_head (3 s at 48 kHz) behind a 2.95 s 22.05 kHz edge model
        server_inputs = resample_windows(
            inputs, edge.audio_spec.sample_rate, server.audio_spec.sample_rate, server.audio_spec.clip_samples
        )
    edge_probs, server_probs = edge.probabilities(inputs), server.probabilities(server_inputs)
    server_accuracy = float((server_probs.argmax(1) == labels).mean())
    threshold = _manifest_threshold(edge.manifest)
    source = "export manifest"
    if threshold is None:
        threshold, source = (
            recommend_threshold(edge_probs, labels, server_accuracy),
            "chosen on this data (target: server accuracy)",
        )
    return {
        "edge": edge.description,
        "server": server.description,
        "samples": int(len(labels)),
        "data": data_name,
        "threshold_source": source,
        "edge_only_accuracy": float((edge_probs.argmax(1) == labels).mean()),
        "server_accuracy": server_accuracy,
        "at_threshold": combined_at(threshold, edge_probs, server_probs, labels),
        "curve": [combined_at(t, edge_probs, server_probs, labels) for t in (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)],
    }


def format_report(report: dict[str, Any]) -> str:
    at = report["at_threshold"]
    lines = [
        f"edge {report['edge']} vs server {report['server']} on {report['samples']} samples ({report['data']})",
        f"threshold {at['threshold']:.2f} ({report['threshold_source']})",
        f"share sent to server: {at['share_to_server']:.1%}",
        f"edge-only accuracy:   {report['edge_only_accuracy']:.1%}",
        f"server accuracy:      {report['server_accuracy']:.1%}",
        f"combined accuracy:    {at['combined_accuracy']:.1%}",
        "threshold  to-server  combined",
    ]
    lines += [
        f"{row['threshold']:9.2f}  {row['share_to_server']:9.1%}  {row['combined_accuracy']:8.1%}"
        for row in report["curve"]
    ]
    return "\n".join(lines)
