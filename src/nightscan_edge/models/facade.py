"""The seed's original entry points, kept working exactly as written there.

``create_lightweight_model('audio', {'num_classes': 6, 'input_size': (128, 128)})`` and the same for
``'audio_ultralight'`` and ``'photo'``.
"""

from __future__ import annotations

from typing import Any

from nightscan_edge.models.base import EdgeClassifier, create_model

SEED_MODEL_TYPES = {
    "audio": "lightweight_audio",
    "audio_ultralight": "ultralight_audio",
    "photo": "mobilenet_v3_small_photo",
}


def create_lightweight_model(model_type: str, config: dict[str, Any] | None = None) -> EdgeClassifier:
    if model_type not in SEED_MODEL_TYPES:
        raise ValueError(f"unknown model type '{model_type}'; known: {', '.join(SEED_MODEL_TYPES)}")
    options = dict(config or {})
    if "num_classes" not in options:
        raise ValueError("config needs 'num_classes', e.g. {'num_classes': 6, 'input_size': (128, 128)}")
    num_classes = options.pop("num_classes")
    return create_model(SEED_MODEL_TYPES[model_type], num_classes, **options)
