"""Checkpoint metadata is one typed model: what training writes is what loading reads, old files included."""

import pytest
import torch

from nightscan_edge.checkpoint import (
    CHECKPOINT_KEY,
    MODEL_PREFIX,
    CheckpointError,
    CheckpointMeta,
    checkpoint_metadata,
    load_trained_model,
)
from nightscan_edge.models import create_model
from nightscan_edge.spec import AudioSpec

SPEC = AudioSpec(sample_rate=8000, clip_samples=2048, n_fft=256, hop_length=128, n_mels=32)
LABELS = ["owl", "fox", "bat"]


def _save(path, meta):
    torch.manual_seed(0)
    model = create_model("ultralight_audio", len(LABELS), spec=SPEC)
    torch.save({"state_dict": {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}, CHECKPOINT_KEY: meta}, path)
    return model


def test_written_metadata_has_the_seed_keys_and_reads_back_typed(tmp_path):
    model = create_model("ultralight_audio", len(LABELS), spec=SPEC)
    meta = checkpoint_metadata(model, LABELS, {"train": {"epochs": 2}}, "run-1", temperature=1.3)
    assert list(meta) == [
        "model_name",
        "model_options",
        "num_classes",
        "labels",
        "spec",
        "config",
        "run_id",
        "temperature",
        "licence",
        "package_version",
        "objective",
        "thresholds",
    ]
    assert meta["spec"] == SPEC.model_dump(mode="json") and meta["config"] == {"train": {"epochs": 2}}
    typed = CheckpointMeta.model_validate(meta)
    assert typed.spec == SPEC and typed.temperature == 1.3 and typed.num_classes == 3


def test_an_older_checkpoint_without_the_later_keys_still_loads(tmp_path):
    path = tmp_path / "old.ckpt"
    model = _save(
        path,
        {"model_name": "ultralight_audio", "num_classes": 3, "labels": LABELS, "spec": SPEC.model_dump(mode="json")},
    )
    trained = load_trained_model(path)
    assert trained.labels == LABELS and trained.run_id == tmp_path.name and trained.temperature is None
    assert trained.config == {} and trained.spec == SPEC
    x = torch.zeros(1, SPEC.clip_samples)
    assert torch.allclose(trained.model.forward_waveform(x), model.eval().forward_waveform(x))


@pytest.mark.parametrize(
    "damage",
    [
        {"labels": "owl"},
        {"num_classes": 0},
        {"spec": {"kind": "video"}},
    ],
)
def test_damaged_metadata_is_one_clear_error(tmp_path, damage):
    path = tmp_path / "best.ckpt"
    _save(
        path,
        {
            "model_name": "ultralight_audio",
            "num_classes": 3,
            "labels": LABELS,
            "spec": SPEC.model_dump(mode="json"),
            **damage,
        },
    )
    with pytest.raises(CheckpointError, match="damaged NightScan Edge checkpoint"):
        load_trained_model(path)
