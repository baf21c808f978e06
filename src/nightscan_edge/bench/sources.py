"""What to benchmark: a run folder (its latest export), an export folder, a ``bundle.zip`` or one file.

Resolves the argument of ``bench``/``check`` into the artifact files, their manifests and -- when the
training run is reachable -- the run folder, which supplies the PyTorch eager baseline and the labeled
samples. A bundle is unpacked into a temporary folder that lives as long as the ``BenchSource``.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nightscan_edge.artifact import ARTIFACT_SUFFIXES, ManifestError, read_manifest
from nightscan_edge.checkpoint import BEST_CHECKPOINT, LAST_CHECKPOINT
from nightscan_edge.errors import UserError
from nightscan_edge.run_folder import RunFolder

EXPORTS_DIR = RunFolder.EXPORTS
EXPORT_REPORT = "export_report.json"


class BenchSourceError(UserError):
    """The path given to bench/check holds nothing that can be benchmarked."""


@dataclass
class Artifact:
    path: Path
    manifest: dict[str, Any]

    @property
    def format(self) -> str:
        return str(self.manifest.get("format", self.path.suffix.lstrip(".")))

    @property
    def precision(self) -> str:
        return str(self.manifest.get("precision", "fp32"))

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class ExportFailure:
    """A format x precision the export attempted but did not leave a file for (from export_report.json)."""

    format: str
    precision: str
    status: str
    error: str


@dataclass
class BenchSource:
    description: str
    artifacts: list[Artifact]
    run_dir: Path | None  # training run (checkpoint + split) when reachable
    _temporary: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    export_failures: list[ExportFailure] = field(default_factory=list)
    # A server-tier run benchmarked on its own (no phone export: birdnet_head): what its checkpoint says.
    checkpoint_manifest: dict[str, Any] | None = None

    @property
    def manifest(self) -> dict[str, Any]:
        """The first artifact's manifest: labels, spec and model name are the same for all of them."""
        manifest = self.artifacts[0].manifest if self.artifacts else self.checkpoint_manifest
        if manifest is None:
            raise BenchSourceError(f"{self.description} holds no exported file and no checkpoint manifest")
        return manifest

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.cleanup()
            self._temporary = None

    def __enter__(self) -> BenchSource:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _is_run_dir(path: Path) -> bool:
    return (path / BEST_CHECKPOINT).is_file() or (path / LAST_CHECKPOINT).is_file()


def _export_dirs(run_dir: Path) -> list[Path]:
    return [p for p in (run_dir / EXPORTS_DIR).glob("*") if p.is_dir()] if (run_dir / EXPORTS_DIR).is_dir() else []


def latest_export_dir(run_dir: Path) -> Path:
    """The most recently written ``exports/<export_id>/`` of a run."""
    exports = _export_dirs(run_dir)
    if not exports:
        raise BenchSourceError(f"run {run_dir} has no exports; run `nightscan-edge export {run_dir}` first")
    return max(
        exports,
        key=lambda p: (
            (p / "manifest.json").stat().st_mtime if (p / "manifest.json").exists() else p.stat().st_mtime,
            p.name,
        ),
    )


def _artifact_paths(export_dir: Path) -> list[Path]:
    return sorted(p for p in export_dir.iterdir() if p.suffix in ARTIFACT_SUFFIXES and not p.name.startswith("."))


def _read_artifacts(paths: list[Path], where: Path) -> list[Artifact]:
    if not paths:
        raise BenchSourceError(f"{where} holds no exported model files (model.onnx, model.tflite, ...)")
    artifacts = []
    for path in paths:
        try:
            artifacts.append(Artifact(path, read_manifest(path)))
        except ManifestError as error:
            raise BenchSourceError(f"{path} has no readable manifest ({error}); re-export it") from error
    return artifacts


def read_export_failures(export_dir: Path) -> list[ExportFailure]:
    """Formats the export could not produce, so the bench table shows them instead of silently omitting them."""
    report_path = export_dir / EXPORT_REPORT
    if not report_path.is_file():
        return []
    try:
        entries = json.loads(report_path.read_text()).get("artifacts", [])
    except (json.JSONDecodeError, AttributeError) as error:
        raise BenchSourceError(f"{report_path} is not a readable export report ({error}); re-export") from None
    failures = []
    for entry in entries:
        file_name = entry.get("file")
        if entry.get("status") != "ok" and not (file_name and (export_dir / Path(file_name).name).exists()):
            failures.append(
                ExportFailure(
                    str(entry.get("format")),
                    str(entry.get("precision")),
                    str(entry.get("status")),
                    str(entry.get("error") or "no file written"),
                )
            )
    return failures


def _run_dir_of_export(export_dir: Path) -> Path | None:
    candidate = export_dir.parent.parent
    return candidate if export_dir.parent.name == EXPORTS_DIR and _is_run_dir(candidate) else None


def open_source(path: str | Path, run_dir: str | Path | None = None) -> BenchSource:
    """Resolve ``path`` (run folder, export folder, bundle.zip or one artifact) for benchmarking.

    ``run_dir`` names the training run when the files live outside it (a downloaded bundle, an export
    written with ``--out``): it supplies the PyTorch baseline and the held-out split.
    """
    source = _open_source(Path(path))
    if run_dir is not None:
        run_dir = Path(run_dir)
        if not _is_run_dir(run_dir):
            source.close()
            raise BenchSourceError(
                f"{run_dir} is not a training run folder (no {BEST_CHECKPOINT} or {LAST_CHECKPOINT})"
            )
        source.run_dir = run_dir
    return source


def _server_run_manifest(run_dir: Path) -> dict[str, Any] | None:
    """For a run of a model that is never exported (frozen-embedding server models), the fields bench reads."""
    from nightscan_edge.checkpoint import load_trained_model

    trained = load_trained_model(run_dir)
    if not getattr(trained.model, "takes_embeddings", False):
        return None
    return {
        "model_name": trained.model_name,
        "run_id": trained.run_id,
        "labels": trained.labels,
        "input": {"spec": trained.spec.model_dump(mode="json")},
        "licence": trained.licence,
    }


def _open_source(path: Path) -> BenchSource:
    if not path.exists():
        raise FileNotFoundError(
            f"{path} does not exist; give a run folder, an export folder, a bundle.zip or a model file"
        )
    if path.is_file() and path.suffix == ".zip":
        if not zipfile.is_zipfile(path):
            raise BenchSourceError(f"{path} is not a valid zip file")
        temporary = tempfile.TemporaryDirectory(prefix="nightscan-bench-")
        with zipfile.ZipFile(path) as archive:
            archive.extractall(temporary.name)
        root = Path(temporary.name)
        manifests = sorted(root.rglob("manifest.json"))
        export_dir = manifests[0].parent if manifests else root
        try:
            artifacts = _read_artifacts(_artifact_paths(export_dir), path)
        except Exception:
            temporary.cleanup()
            raise
        return BenchSource(f"bundle {path}", artifacts, None, temporary)
    if path.is_dir() and _is_run_dir(path):
        server = _server_run_manifest(path)
        if server is not None and not _export_dirs(path):  # exported (birdnet_head's phone files): bench those
            return BenchSource(f"run {path} (server model, PyTorch + LiteRT)", [], path, checkpoint_manifest=server)
        export_dir = latest_export_dir(path)
        return BenchSource(
            f"run {path} (export {export_dir.name})",
            _read_artifacts(_artifact_paths(export_dir), export_dir),
            path,
            export_failures=read_export_failures(export_dir),
        )
    if path.is_dir() and (path / "manifest.json").is_file():
        return BenchSource(
            f"export {path}",
            _read_artifacts(_artifact_paths(path), path),
            _run_dir_of_export(path),
            export_failures=read_export_failures(path),
        )
    if path.suffix not in ARTIFACT_SUFFIXES:
        raise BenchSourceError(
            f"{path} is neither a run folder (best.ckpt), an export folder (manifest.json), a bundle.zip "
            "nor a model file"
        )
    artifacts = _read_artifacts([path], path)
    return BenchSource(f"file {path}", artifacts, _run_dir_of_export(path.parent))
