"""Model families, registered by decorator; ``create_model`` builds any of them by name."""

# Importing each family registers it (edge tier, then the server/teacher tier).
from nightscan_edge.models import (  # noqa: F401
    birdnet_backbone,
    birdnet_head,
    efficientnet_lite0_photo,
    lightweight_audio,
    mobilenet_v3_small_photo,
    server_audio,
    server_photo,
    ultralight_audio,
)
from nightscan_edge.models.base import (
    MODELS,
    AudioClassifier,
    EdgeClassifier,
    ModelEntry,
    create_model,
    list_models,
    register_model,
)
from nightscan_edge.models.complexity import ModelComplexity, get_model_complexity, measure_complexity
from nightscan_edge.models.facade import create_lightweight_model

__all__ = [
    "MODELS",
    "AudioClassifier",
    "EdgeClassifier",
    "ModelEntry",
    "ModelComplexity",
    "create_lightweight_model",
    "create_model",
    "get_model_complexity",
    "list_models",
    "measure_complexity",
    "register_model",
]
