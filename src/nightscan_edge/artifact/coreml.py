"""Core ML ML Program (.mlpackage folder) for iOS 16+, INT8 = per-channel weight quantization; the manifest in
the spec's user metadata.

coremltools converts and quantizes anywhere but predicts only on macOS, so on Linux the artifact is checked
structurally (input, output, class labels, embedded manifest) and numeric parity is "needs macOS". The INT8
quality gate runs on a PyTorch copy with the same per-channel symmetric INT8 weights (weight-only
quantization dequantizes to float at run time, so that copy computes what Core ML computes).
torch and coremltools are imported inside the functions that use them: the format table loads without them.
"""

from __future__ import annotations

import copy
import json
import platform
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nightscan_edge.artifact.backend import EXPORT_EXTRA, ArtifactFormat, register_format
from nightscan_edge.artifact.containers import coreml_spec_path, read_coreml_manifest
from nightscan_edge.artifact.errors import RuntimeUnavailableError
from nightscan_edge.artifact.manifest import INPUT_NAME, MANIFEST_KEY, OUTPUT_NAME
from nightscan_edge.artifact.runner import Runner, check_input, run_per_sample

if TYPE_CHECKING:  # annotations only: torch loads when the format is used
    import torch

    from nightscan_edge.artifact.wrapper import ExportableClassifier

CLASS_LABEL_OUTPUT = "classLabel"
# coremltools' default: tensors smaller than this stay float in linear_quantize_weights.
WEIGHT_THRESHOLD = 2048


# ---------------------------------------------------------------- export
def export_coreml(module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
    """Write the .mlpackage (FP32 compute, batch 1, classifier outputs); returns False (fixed batch)."""
    import coremltools as ct  # the [export] extra
    import torch  # kept out of the format table's import (it loads without torch)

    example = example[:1]
    traced = torch.jit.trace(module, example)  # type: ignore[no-untyped-call]  # torch.jit.trace is unannotated
    model = ct.convert(
        traced,
        inputs=[ct.TensorType(name=INPUT_NAME, shape=tuple(example.shape), dtype=np.float32)],
        classifier_config=ct.ClassifierConfig(list(labels)),
        convert_to="mlprogram",
        compute_precision=ct.precision.FLOAT32,
        minimum_deployment_target=ct.target.iOS16,
    )
    spec = model.get_spec()
    probability_output = spec.description.predictedProbabilitiesName
    if probability_output != OUTPUT_NAME:
        ct.utils.rename_feature(spec, probability_output, OUTPUT_NAME)
        model = ct.models.MLModel(spec, weights_dir=model.weights_dir, skip_model_load=True)
    if path.exists():
        shutil.rmtree(path)
    model.save(str(path))
    return False


# ---------------------------------------------------------------- INT8
def quantize_coreml(fp32_path: Path, int8_path: Path) -> None:
    """Per-channel symmetric INT8 weights (``coremltools.optimize.coreml``); activations stay float."""
    import coremltools as ct  # the [export] extra
    from coremltools.optimize.coreml import OpLinearQuantizerConfig, OptimizationConfig, linear_quantize_weights

    model = ct.models.MLModel(str(fp32_path), skip_model_load=True)
    config = OptimizationConfig(
        global_config=OpLinearQuantizerConfig(
            mode="linear_symmetric", dtype="int8", granularity="per_channel", weight_threshold=WEIGHT_THRESHOLD
        )
    )
    quantized = linear_quantize_weights(model, config=config)
    if int8_path.exists():
        shutil.rmtree(int8_path)
    quantized.save(str(int8_path))


def simulate_weight_int8(module: ExportableClassifier) -> ExportableClassifier:
    """A copy whose Conv/Linear weights went through the same per-channel symmetric INT8 round trip."""
    import torch  # kept out of the format table's import (it loads without torch)

    simulated = copy.deepcopy(module)
    with torch.no_grad():
        for layer in simulated.modules():
            if (
                isinstance(layer, (torch.nn.Conv1d, torch.nn.Conv2d, torch.nn.Linear))
                and layer.weight.numel() >= WEIGHT_THRESHOLD
            ):
                weight = layer.weight
                scale = weight.abs().flatten(1).amax(dim=1).clamp(min=1e-12) / 127.0
                shape = (-1,) + (1,) * (weight.dim() - 1)
                weight.copy_(torch.round(weight / scale.view(shape)).clamp(-127, 127) * scale.view(shape))
    return simulated


# ---------------------------------------------------------------- manifest and structure
def embed_coreml(path: Path, manifest: dict[str, Any]) -> None:
    """Write the manifest into the package's user metadata (protobuf edited in place; weights untouched)."""
    from coremltools.proto import Model_pb2  # the [export] extra

    spec_file = coreml_spec_path(path)
    spec = Model_pb2.Model()
    spec.ParseFromString(spec_file.read_bytes())
    metadata = spec.description.metadata
    metadata.userDefined[MANIFEST_KEY] = json.dumps(manifest)
    metadata.shortDescription = (
        f"{manifest['model_name']} ({manifest['precision']}): {OUTPUT_NAME} over {len(manifest['labels'])} classes"
    )
    metadata.versionString = manifest["package_version"]
    metadata.author = "nightscan-edge"
    spec_file.write_bytes(spec.SerializeToString())


def check_coreml_spec(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Structural checks possible without Core ML: what an iOS app will see. Raises ValueError on a mismatch."""
    from coremltools.proto import Model_pb2  # the [export] extra

    spec = Model_pb2.Model()
    spec.ParseFromString(coreml_spec_path(path).read_bytes())
    description = spec.description
    inputs = {f.name: list(f.type.multiArrayType.shape) for f in description.input}
    outputs = [f.name for f in description.output]
    expected_shape = [1, *manifest["input"]["shape"][1:]]
    labels = _class_labels(spec)
    problems = []
    if inputs != {INPUT_NAME: expected_shape}:
        problems.append(f"inputs {inputs} != {{'{INPUT_NAME}': {expected_shape}}}")
    if OUTPUT_NAME not in outputs or CLASS_LABEL_OUTPUT not in outputs:
        problems.append(f"outputs {outputs} lack '{OUTPUT_NAME}' / '{CLASS_LABEL_OUTPUT}'")
    if labels != list(manifest["labels"]):
        problems.append(f"class labels {labels} != manifest labels {manifest['labels']}")
    embedded = json.loads(description.metadata.userDefined.get(MANIFEST_KEY, "null") or "null")
    if not embedded or embedded.get("labels") != manifest["labels"]:
        problems.append("embedded manifest missing or different")
    if problems:
        raise ValueError("Core ML spec check failed: " + "; ".join(problems))
    return {"inputs": inputs, "outputs": outputs, "class_labels": len(labels), "metadata": True}


def _class_labels(spec: Any) -> list[str]:
    """The labels of the ML Program's ``classify`` op (inline value or a const input); ``spec`` is a
    ``Model_pb2.Model``."""
    for function in spec.mlProgram.functions.values():
        for block in function.block_specializations.values():
            operations = list(block.operations)
            consts = {op.outputs[0].name: op for op in operations if op.type == "const" and op.outputs}
            for op in operations:
                if op.type == "classify":
                    argument = op.inputs["classes"].arguments[0]
                    if argument.HasField("value"):  # coremltools 9 inlines the labels in the argument
                        return _strings(argument.value)
                    const = consts.get(argument.name)
                    return _strings(const.attributes["val"]) if const is not None else []
    return []


def _strings(value: Any) -> list[str]:
    """The strings of a MIL ``Value`` (a tensor of strings, or a list of them)."""
    immediate = value.immediateValue
    if immediate.HasField("tensor"):
        return [v.decode() if isinstance(v, bytes) else v for v in immediate.tensor.strings.values]
    if immediate.HasField("list"):
        return [s for item in immediate.list.values for s in _strings(item)]
    return []


# ---------------------------------------------------------------- runner
class CoreMLRunner:
    """macOS only: coremltools can predict only where the Core ML framework exists."""

    format = "coreml"
    dynamic_batch = False

    def __init__(self, path: Path, manifest: dict[str, Any], threads: int | None = None) -> None:
        import coremltools  # the [export] extra

        self.path, self.manifest = path, manifest
        self.model = coremltools.models.MLModel(str(path), compute_units=coremltools.ComputeUnit.CPU_ONLY)
        self.input_name = manifest["input"]["name"]
        self.output_name = manifest["output"]["name"]

    def _run(self, x: np.ndarray) -> np.ndarray:
        output = self.model.predict({self.input_name: x})[self.output_name]
        if isinstance(output, dict):  # classifier output: {label: probability}
            return np.asarray([[output[label] for label in self.manifest["labels"]]], dtype=np.float32)
        return np.asarray(output, dtype=np.float32).reshape(1, -1)

    def predict(self, x: np.ndarray) -> np.ndarray:
        return run_per_sample(self._run, check_input(x, self.manifest))


# ---------------------------------------------------------------- the row
class CoreMLFormat(ArtifactFormat):
    def export(self, module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
        return export_coreml(module, example, path, labels)

    def quantize(
        self,
        fp32_path: Path,
        int8_path: Path,
        module: ExportableClassifier,
        example: torch.Tensor,
        calibration: np.ndarray,
        keep_float: tuple[str, ...] = (),
    ) -> bool:
        quantize_coreml(fp32_path, int8_path)
        return False

    def embed_manifest(self, path: Path, manifest: dict[str, Any]) -> None:
        embed_coreml(path, manifest)

    def read_manifest(self, path: Path) -> dict[str, Any]:
        return read_coreml_manifest(path)

    def open_runner(self, path: Path, manifest: dict[str, Any], threads: int | None) -> Runner:
        if platform.system() != "Darwin":
            raise RuntimeUnavailableError(
                f"{path.name}: Core ML models run only on macOS/iOS; this is "
                f"{platform.system()}. Use the .onnx, .tflite or .pte file here."
            )
        return CoreMLRunner(path, manifest, threads)

    def check_structure(self, path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
        return check_coreml_spec(path, manifest)

    def simulate_int8(self, module: ExportableClassifier) -> tuple[ExportableClassifier, str]:
        # Weight-only INT8 dequantizes to float at run time, so this copy computes what Core ML computes.
        return (
            simulate_weight_int8(module),
            "PyTorch with the same per-channel INT8 weights; Core ML predicts only on macOS",
        )


COREML = register_format(
    CoreMLFormat(
        "coreml",
        ".mlpackage",
        "coremltools (macOS/iOS only)",
        True,
        EXPORT_EXTRA,
        ("coremltools",),
        "Core ML ML Program for iOS 16+; INT8 = per-channel weight quantization",
        manifest_location='Core ML: `model.modelDescription.metadata[.creatorDefinedKey]["nightscan_manifest"]`; '
        "class labels are the classifier's labels",
        unavailable_reason="Core ML predicts only on macOS/iOS",
        rank=30,  # the iOS format
    )
)
