"""``birdnet_head``: frozen BirdNET V2.4 (Kahl et al., "BirdNET: A deep learning solution for avian diversity
monitoring", Ecological Informatics 61, 2021) + a small trained head -- the few-shot server/teacher tier.

The head reads BirdNET's 1024-d pooled embedding of a 3 s, 48 kHz window: a linear layer by default (what
few-shot bioacoustics papers and BirdNET-Analyzer's own custom classifiers use), or a one-hidden-layer MLP
(``head: mlp``). Training runs on cached embeddings, so it takes seconds on a CPU; ``forward`` takes
embeddings, ``forward_waveform`` runs BirdNET in LiteRT first, so prediction, the fallback server and bench
use it like any audio model. It is the model the server answers with and the teacher the edge students learn
from; ``export`` writes it for phones as BirdNET's own LiteRT graph cut at the embedding with this head appended
(``nightscan_edge.artifact.birdnet_tflite``), LiteRT only.

The head's weights are the project's; BirdNET's are CC BY-NC-SA 4.0, and so is anything trained on them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from nightscan_edge.models.base import EdgeClassifier, InputKind, register_model
from nightscan_edge.models.birdnet_extractor import (
    BIRDNET_LICENCE,
    EMBEDDING_SIZE,
    birdnet_input_spec,
    birdnet_window_spec,
    get_birdnet,
)
from nightscan_edge.spec import AudioSpec


class BirdNetHead(EdgeClassifier):
    input_kind: InputKind = "audio"
    takes_embeddings = True  # training feeds cached BirdNET embeddings, not spectrograms
    embedding_size = EMBEDDING_SIZE

    def __init__(
        self,
        num_classes: int,
        spec: AudioSpec,
        head: str = "linear",
        hidden: int = 256,
        dropout: float = 0.2,
        threads: int = 1,
    ) -> None:
        super().__init__(spec)
        if head not in ("linear", "mlp"):
            raise ValueError(f"birdnet_head option head must be 'linear' or 'mlp'; got {head!r}")
        if not isinstance(hidden, int) or hidden < 1:
            raise ValueError(f"birdnet_head option hidden must be a positive integer; got {hidden!r}")
        self.threads = int(threads)
        if head == "mlp":
            self.body: nn.Module = nn.Sequential(
                nn.Dropout(dropout), nn.Linear(EMBEDDING_SIZE, hidden), nn.ReLU(), nn.Dropout(dropout)
            )
            width = hidden
        else:
            self.body = nn.Dropout(dropout)
            width = EMBEDDING_SIZE
        self.head = nn.Linear(width, num_classes)

    def features(self, embeddings: torch.Tensor) -> torch.Tensor:
        features: torch.Tensor = self.body(embeddings)
        return features

    def forward_waveform(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, 144000)`` 48 kHz windows -> logits, through BirdNET (LiteRT, no gradient) and the head."""
        embeddings = get_birdnet(self.threads).embed(waveform.detach().cpu().numpy().astype(np.float32, copy=False))
        return self.forward(torch.from_numpy(embeddings).to(self.head.weight.device))

    def example_input(self, batch: int = 1) -> torch.Tensor:
        """What ``forward`` takes (complexity counts the head; BirdNET's own cost is measured by bench)."""
        return torch.zeros(batch, EMBEDDING_SIZE)


@register_model(
    "birdnet_head",
    input_kind="audio",
    budget_mb=200.0,
    tier="server",
    licence=BIRDNET_LICENCE,
    input_spec=birdnet_input_spec,
    frozen_embedding=True,
    description="server/teacher: frozen BirdNET V2.4 embedding (52 MB, LiteRT) + linear or MLP head; "
    "few-shot; needs the birdnet extra",
)
def birdnet_head(num_classes: int, spec: AudioSpec, **options: Any) -> BirdNetHead:
    spec = birdnet_window_spec(spec, "birdnet_head")
    return BirdNetHead(num_classes, spec, **options)
