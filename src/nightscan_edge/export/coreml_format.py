"""Core ML (ML Program .mlpackage) export, INT8 weight quantization, and a spec check that runs on Linux.

coremltools converts and quantizes anywhere but predicts only on macOS, so on Linux the artifact is
checked structurally (input, output, class labels, embedded manifest); numeric parity is "needs macOS".
The INT8 quality gate runs on a PyTorch copy with the same per-channel symmetric INT8 weights
(weight-only quantization dequantizes to float at run time, so that copy computes what Core ML computes).
"""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from nightscan_edge.artifact.containers import coreml_spec_path
from nightscan_edge.artifact.manifest import MANIFEST_KEY
from nightscan_edge.export.wrapper import INPUT_NAME, OUTPUT_NAME, ExportableClassifier

CLASS_LABEL_OUTPUT = "classLabel"
# coremltools' default: tensors smaller than this stay float in linear_quantize_weights.
WEIGHT_THRESHOLD = 2048


def export_coreml(module: ExportableClassifier, example: torch.Tensor, path: Path, labels: list[str]) -> bool:
    """Write the .mlpackage (FP32 compute, batch 1, classifier outputs); returns False (fixed batch)."""
    import coremltools as ct

    example = example[:1]
    traced = torch.jit.trace(module, example)
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


def quantize_coreml(fp32_path: Path, int8_path: Path) -> None:
    """Per-channel symmetric INT8 weights (``coremltools.optimize.coreml``); activations stay float."""
    import coremltools as ct
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


def embed_coreml(path: Path, manifest: dict) -> None:
    """Write the manifest into the package's user metadata (protobuf edited in place; weights untouched)."""
    from coremltools.proto import Model_pb2

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


def check_coreml_spec(path: Path, manifest: dict) -> dict:
    """Structural checks possible without Core ML: what an iOS app will see. Raises ValueError on a mismatch."""
    from coremltools.proto import Model_pb2

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


def _class_labels(spec) -> list[str]:
    """The labels of the ML Program's ``classify`` op (inline value or a const input)."""
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


def _strings(value) -> list[str]:
    immediate = value.immediateValue
    if immediate.HasField("tensor"):
        return [v.decode() if isinstance(v, bytes) else v for v in immediate.tensor.strings.values]
    if immediate.HasField("list"):
        return [s for item in immediate.list.values for s in _strings(item)]
    return []


def simulate_weight_int8(module: ExportableClassifier) -> ExportableClassifier:
    """A copy whose Conv/Linear weights went through the same per-channel symmetric INT8 round trip."""
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
