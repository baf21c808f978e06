"""The model catalogue: every registered model with its registry facts and measured complexity.

One row per model, shared by ``nightscan-edge models`` and the web catalogue page (which caches the rows).
"""

from __future__ import annotations

from typing import Any

from nightscan_edge.errors import UserError
from nightscan_edge.models.base import ModelEntry, create_model, list_models
from nightscan_edge.models.complexity import ModelComplexity, measure_complexity


def catalogue(num_classes: int = 6) -> list[dict[str, Any]]:
    """One row per registered model: registry facts + measured complexity (builds every model: seconds each)."""
    rows = []
    for entry in list_models():
        complexity, input_shape = _measured(entry, num_classes)
        rows.append(
            {
                "name": entry.name,
                "input_kind": entry.input_kind,
                "tier": entry.tier,
                "budget_mb": entry.budget_mb,
                "description": entry.description,
                "input_shape": input_shape,
                "licence": entry.weights_licence,  # the terms (and origin) of pretrained weights the family carries
                **complexity.as_dict(),
            }
        )
    return rows


def _measured(entry: ModelEntry, num_classes: int) -> tuple[ModelComplexity, list[int]]:
    """The family's complexity and input shape; a family whose optional extra is missing gets a zero row that says
    what to install (the catalogue lists every family, so a user learns it exists and how to get it)."""
    try:
        model = create_model(entry.name, num_classes)
    except UserError as error:
        if entry.requires is None:
            raise
        return ModelComplexity(0, 0.0, 0.0, 0, 0, 0, False, [str(error)]), []
    return measure_complexity(model), list(model.spec.input_shape)
