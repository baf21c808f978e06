"""Read a LiteRT file's ops (operator, scope, input and output tensor types) for tests that check what INT8 kept
float."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Op:
    code: int  # ai_edge_quantizer.qtyping.BuiltinOperator
    scope: str
    input_types: list[int]  # qtyping.TensorType per input (activation first, then weights)
    output_types: list[int]


def tflite_ops(path: Path) -> list[Op]:
    """The serving subgraph's ops in execution order (the manifest archive appended to the file stripped)."""
    from ai_edge_quantizer.utils import tfl_flatbuffer_utils

    from nightscan_edge.export.manifest import strip_appended_zip

    model = tfl_flatbuffer_utils.read_model(bytearray(strip_appended_zip(path.read_bytes())))
    subgraph = model.subgraphs[0]
    return [
        Op(
            model.operatorCodes[op.opcodeIndex].builtinCode,
            tfl_flatbuffer_utils.get_op_scope(op, subgraph.tensors),
            [subgraph.tensors[i].type for i in op.inputs if i >= 0],
            [subgraph.tensors[i].type for i in op.outputs if i >= 0],
        )
        for op in subgraph.operators
    ]
