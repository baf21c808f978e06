"""The manifest: one typed description of an exported model, embedded in every artifact and written beside it.

``Manifest`` is what each artifact carries (built by ``Manifest.build``); ``ExportManifest`` is the
``manifest.json`` beside the artifacts of one export (shared fields plus one ``Manifest`` per file). Both are
written with ``to_json`` and read with ``read_manifest``/``Manifest.from_dict`` here and nowhere else; their
JSON Schema (``python -m nightscan_edge.artifact.schema``) is committed for the JS client, whose tests check
its reader against it. The JSON keys are those of docs/architecture.md; newer keys may be added, readers
keep unknown ones (``extra="allow"``) so an older package still opens a newer file.

Where it lives inside each format is the format's business (``ArtifactFormat.embed_manifest``).
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nightscan_edge import __version__
from nightscan_edge.artifact.backend import artifact_suffixes, format_by_suffix
from nightscan_edge.artifact.errors import ManifestError
from nightscan_edge.objective import (
    MULTILABEL,
    SINGLE_LABEL,
    Objective,
    OutputActivation,
    activation_for,
    check_thresholds,
)
from nightscan_edge.spec import InputSpec

MANIFEST_KEY = "nightscan_manifest"
MANIFEST_FILE = "manifest.json"
LABELS_FILE = "labels.txt"
# The exported graph's tensor names (every format; the manifest's ``input.name`` / ``output.name``).
INPUT_NAME = "input"
OUTPUT_NAME = "probabilities"
# Keys written only when given (as before this model existed: ``build`` without them wrote no such key).
OPTIONAL_KEYS = ("calibration", "file", "quality_gate", "licence")


class _Open(BaseModel):
    """Keys we do not know (a newer exporter's) are kept, not refused."""

    # The schema (serialization mode) lists every key with a default as required: the exporter always writes it.
    model_config = ConfigDict(extra="allow", protected_namespaces=(), json_schema_serialization_defaults_required=True)


class ArtifactInput(_Open):
    name: str
    shape: list[int] = Field(description="-1 as the first dimension: dynamic batch")
    dtype: Literal["float32"] = "float32"
    layout: str
    spec: InputSpec


class ArtifactOutput(_Open):
    name: str
    shape: list[int]
    meaning: Literal["probabilities"] = "probabilities"
    temperature_applied: bool = Field(True, description="softmax(logits / T) is inside the model: do not apply T again")
    activation: OutputActivation = Field(
        "softmax",
        description="inside the file: softmax (scores sum to 1, one label) or sigmoid (one independent score per "
        "class, compared with its threshold)",
    )


class Manifest(_Open):
    """What one artifact file carries: enough to preprocess, run and read it without anything else."""

    format: str
    precision: str
    model_name: str
    run_id: str
    export_id: str
    labels: list[str] = Field(min_length=1, description="output index i is labels[i]")
    input: ArtifactInput
    output: ArtifactOutput
    temperature: float = Field(gt=0)
    package_version: str
    created: str = Field(description="UTC, ISO 8601")
    parity: dict[str, Any] | None = Field(None, description="measured against PyTorch after export")
    calibration: dict[str, Any] | None = None
    file: str | None = None
    quality_gate: dict[str, Any] | None = None
    licence: str | None = Field(None, description="licence of the weights, when they carry one")
    objective: Objective = Field(
        SINGLE_LABEL, description="single_label: report the top class; multilabel: every class above its threshold"
    )
    thresholds: dict[str, float] | None = Field(
        None, description="multilabel: per label, the score at or above which the class is present"
    )

    @model_validator(mode="after")
    def _objective_is_consistent(self) -> Manifest:
        _check_objective(self.objective, self.thresholds, self.labels, self.output.activation)
        return self

    @property
    def multilabel(self) -> bool:
        return self.objective == MULTILABEL

    @classmethod
    def build(
        cls,
        *,
        format_name: str,
        precision: str,
        model_name: str,
        run_id: str,
        labels: list[str],
        spec: dict[str, Any],
        input_name: str,
        input_shape: list[int],
        output_name: str,
        temperature: float,
        export_id: str,
        extra: dict[str, Any] | None = None,
        objective: Objective = SINGLE_LABEL,
        thresholds: dict[str, float] | None = None,
    ) -> Manifest:
        """The keys of docs/architecture.md; ``input_shape`` has -1 for a dynamic batch."""
        layout = "waveform (batch, samples) float32 mono at spec.sample_rate" if spec.get("kind") == "audio" else "NCHW"
        return cls.model_validate(
            {
                "format": format_name,
                "precision": precision,
                "model_name": model_name,
                "run_id": run_id,
                "export_id": export_id,
                "labels": list(labels),
                "input": {
                    "name": input_name,
                    "shape": list(input_shape),
                    "dtype": "float32",
                    "layout": layout,
                    "spec": spec,
                },
                "output": {
                    "name": output_name,
                    "shape": [input_shape[0], len(labels)],
                    "meaning": "probabilities",
                    "temperature_applied": True,
                    "activation": activation_for(objective),
                },
                # The model already returns softmax (or sigmoid) of logits / temperature: consumers apply nothing.
                "temperature": float(temperature),
                "package_version": __version__,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "parity": None,
                "objective": objective,
                "thresholds": thresholds,
                **(extra or {}),
            }
        )

    @classmethod
    def from_dict(cls, data: Any, where: str = "manifest") -> Manifest:
        try:
            return cls.model_validate(data)
        except ValidationError as error:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in error.errors()[:3]
            )
            raise ManifestError(f"{where} is not a NightScan manifest ({problems}); re-run the export") from None

    def to_dict(self) -> dict[str, Any]:
        return _dump(self)

    def to_json(self) -> str:
        return manifest_json(self.to_dict())


class ExportInput(_Open):
    name: str
    shape: list[int]
    dtype: Literal["float32"] = "float32"
    spec: InputSpec


class ExportOutput(_Open):
    name: str
    meaning: Literal["probabilities"] = "probabilities"
    temperature_applied: bool = True
    activation: OutputActivation = "softmax"


class ExportManifest(_Open):
    """``manifest.json`` beside the artifacts: what they share, and each file's own manifest with its status."""

    export_id: str
    model_name: str
    run_id: str
    labels: list[str] = Field(min_length=1)
    input: ExportInput
    output: ExportOutput
    temperature: float = Field(gt=0)
    calibration: dict[str, Any] | None = None
    package_version: str | None
    artifacts: dict[str, Manifest] = Field(description="file name -> its embedded manifest plus 'status'")
    objective: Objective = SINGLE_LABEL
    thresholds: dict[str, float] | None = None

    @model_validator(mode="after")
    def _objective_is_consistent(self) -> ExportManifest:
        _check_objective(self.objective, self.thresholds, self.labels, self.output.activation)
        return self

    def to_dict(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude={"artifacts"})
        data["artifacts"] = {name: manifest.to_dict() for name, manifest in self.artifacts.items()}
        return data

    def to_json(self) -> str:
        return manifest_json(self.to_dict())


def _check_objective(
    objective: Objective, thresholds: dict[str, float] | None, labels: list[str], activation: OutputActivation
) -> None:
    """One rule for both manifests: sigmoid iff multilabel, and a multilabel file carries a threshold per label."""
    if activation != activation_for(objective):
        raise ValueError(f"a {objective} model's output activation is {activation_for(objective)}, not {activation}")
    if objective == MULTILABEL and thresholds is None:
        raise ValueError("a multilabel manifest needs per-class thresholds; re-export from a run that chose them")
    if objective != MULTILABEL and thresholds is not None:
        raise ValueError("per-class thresholds belong to a multilabel manifest; this one is single_label")
    if thresholds is not None:
        check_thresholds(thresholds, labels)


def _dump(manifest: Manifest) -> dict[str, Any]:
    data = manifest.model_dump(mode="json")
    for key in OPTIONAL_KEYS:
        if key not in manifest.model_fields_set:
            data.pop(key, None)
    return data


def build_manifest(**fields: Any) -> dict[str, Any]:
    """``Manifest.build(...).to_dict()``: the dict the embedders take (kept for scripts written against it)."""
    return Manifest.build(**fields).to_dict()


def manifest_json(manifest: dict[str, Any] | Manifest) -> str:
    data = manifest.to_dict() if isinstance(manifest, Manifest) else manifest
    return json.dumps(data, indent=2, sort_keys=False)


def parse_manifest_json(text: str | bytes, where: str) -> dict[str, Any]:
    """The JSON object a file embeds (``json.JSONDecodeError`` for broken JSON, read_manifest words it)."""
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ManifestError(f"{where}: embedded manifest is a JSON {type(data).__name__}, not an object; re-export")
    return data


def read_manifest(path: str | Path) -> dict[str, Any]:
    """The manifest embedded in an artifact (.onnx, .tflite, .mlpackage, .pte) as stored; ``ManifestError`` if none.

    The raw dict, not validated: runners and listings accept what an older or newer exporter wrote; code that
    relies on the fields reads ``load_manifest`` (or ``Manifest.from_dict``).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist")
    fmt = format_by_suffix(path)
    if fmt is None:
        raise ManifestError(
            f"{path.name}: unknown model file type '{path.suffix.lower()}'; expected "
            f"{', '.join(artifact_suffixes()[:-1])} or {artifact_suffixes()[-1]}"
        )
    try:
        return fmt.read_manifest(path)
    except (json.JSONDecodeError, zipfile.BadZipFile, UnicodeDecodeError) as error:
        raise ManifestError(f"{path.name}: embedded manifest is corrupt ({error}); re-export the model") from error


def load_manifest(path: str | Path) -> Manifest:
    """The typed manifest of an artifact (``ManifestError`` when it is missing or not a NightScan manifest)."""
    return Manifest.from_dict(read_manifest(path), where=f"{Path(path).name}'s manifest")
