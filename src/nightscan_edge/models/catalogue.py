"""The model catalogue: every registered model with its registry facts and measured complexity.

One row per model, shared by ``nightscan-edge models`` and the web catalogue page (which caches the rows).
"""

from __future__ import annotations

from typing import Any

from nightscan_edge.models.base import create_model, list_models
from nightscan_edge.models.complexity import measure_complexity


def catalogue(num_classes: int = 6) -> list[dict[str, Any]]:
    """One row per registered model: registry facts + measured complexity (builds every model: seconds each)."""
    rows = []
    for entry in list_models():
        model = create_model(entry.name, num_classes)
        complexity = measure_complexity(model)
        rows.append(
            {
                "name": entry.name,
                "input_kind": entry.input_kind,
                "tier": entry.tier,
                "budget_mb": entry.budget_mb,
                "description": entry.description,
                "input_shape": list(model.spec.input_shape),
                "licence": entry.weights_licence,  # the terms (and origin) of pretrained weights the family carries
                **complexity.as_dict(),
            }
        )
    return rows
