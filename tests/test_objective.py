"""The multi-label contract (docs/multilabel.md): one set of names and checks for config, checkpoint, manifest
and the exported graph; old checkpoints and manifests read as single-label."""

import pytest
import torch

from nightscan_edge.artifact import Manifest, ManifestError
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.checkpoint import (
    CHECKPOINT_KEY,
    CheckpointError,
    load_trained_model,
    read_checkpoint_meta,
    save_standalone_checkpoint,
    write_checkpoint_thresholds,
)
from nightscan_edge.config import resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.models import create_model
from nightscan_edge.objective import (
    ThresholdError,
    activation_for,
    check_thresholds,
    labels_above_thresholds,
    multilabel_report,
)
from nightscan_edge.safe_load import load_torch_file
from nightscan_edge.spec import AudioSpec

SPEC = AudioSpec(sample_rate=8000, clip_samples=2048, n_fft=256, hop_length=128, n_mels=32)
LABELS = ["owl", "frog", "cricket"]
THRESHOLDS = {"owl": 0.4, "frog": 0.6, "cricket": 0.5}


def test_config_defaults_single_label_and_accepts_the_multilabel_options():
    assert resolve_config().train.objective == "single_label"
    train = resolve_config(
        overrides=[
            "train.objective=multilabel",
            "train.multilabel_loss=focal",
            "train.threshold_rule=target_precision",
            "train.target_precision=0.8",
        ]
    ).train
    assert (train.objective, train.multilabel_loss, train.threshold_rule, train.target_precision) == (
        "multilabel",
        "focal",
        "target_precision",
        0.8,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["train.multilabel_loss=focal"], "only apply with train.objective=multilabel"),
        (["train.objective=multilabel", "train.label_smoothing=0.1"], "label_smoothing"),
        (["train.objective=multilabel", "train.target_precision=0.8"], "threshold_rule=target_precision"),
        (["train.objective=multilabel", "train.target_precision=1"], "target_precision"),
        (["train.objective=several"], "objective"),
    ],
)
def test_config_refuses_combinations_that_cannot_work_in_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as caught:
        resolve_config(overrides=overrides)
    assert "\n" not in str(caught.value)


def test_thresholds_are_checked_against_the_labels():
    assert list(check_thresholds({"frog": 0.6, "owl": 0.4, "cricket": 0.5}, LABELS)) == LABELS
    with pytest.raises(ThresholdError, match="does not have: bat"):
        check_thresholds({**THRESHOLDS, "bat": 0.5}, LABELS)
    with pytest.raises(ThresholdError, match="no threshold for label.s. cricket"):
        check_thresholds({"owl": 0.4, "frog": 0.6}, LABELS)
    with pytest.raises(ThresholdError, match="owl=1.5"):
        check_thresholds({**THRESHOLDS, "owl": 1.5}, LABELS)
    assert labels_above_thresholds({"owl": 0.45, "frog": 0.59, "cricket": 0.9}, THRESHOLDS) == ["cricket", "owl"]
    assert activation_for("multilabel") == "sigmoid" and activation_for("single_label") == "softmax"


def _model():
    torch.manual_seed(0)
    return create_model("ultralight_audio", len(LABELS), spec=SPEC)


def test_checkpoint_carries_objective_and_thresholds_and_old_ones_read_single_label(tmp_path):
    single = save_standalone_checkpoint(tmp_path / "single.ckpt", _model(), LABELS)
    trained = load_trained_model(single)
    assert (trained.objective, trained.thresholds, trained.multilabel) == ("single_label", None, False)
    old = load_torch_file(single)
    for key in ("objective", "thresholds"):
        del old[CHECKPOINT_KEY][key]
    torch.save(old, tmp_path / "old.ckpt")
    assert read_checkpoint_meta(tmp_path / "old.ckpt").objective == "single_label"

    multi = save_standalone_checkpoint(tmp_path / "multi.ckpt", _model(), LABELS, objective="multilabel")
    assert load_trained_model(multi).thresholds is None  # as Lightning saves it mid-training
    write_checkpoint_thresholds(multi, {"cricket": 0.5, "frog": 0.6, "owl": 0.4})
    trained = load_trained_model(multi)
    assert trained.multilabel and trained.thresholds == THRESHOLDS and list(trained.thresholds) == LABELS


def test_bad_thresholds_in_a_checkpoint_are_one_clear_error_and_leave_the_file_alone(tmp_path):
    single = save_standalone_checkpoint(tmp_path / "single.ckpt", _model(), LABELS)
    with pytest.raises(CheckpointError, match="single_label checkpoint"):
        write_checkpoint_thresholds(single, THRESHOLDS)
    multi = save_standalone_checkpoint(tmp_path / "multi.ckpt", _model(), LABELS, objective="multilabel")
    before = multi.read_bytes()
    with pytest.raises(CheckpointError, match="does not have: bat"):
        write_checkpoint_thresholds(multi, {**THRESHOLDS, "bat": 0.3})
    assert multi.read_bytes() == before
    damaged = load_torch_file(multi)
    damaged[CHECKPOINT_KEY]["thresholds"] = {"owl": 0.4}
    torch.save(damaged, tmp_path / "damaged.ckpt")
    with pytest.raises(CheckpointError, match="no threshold for label"):
        load_trained_model(tmp_path / "damaged.ckpt")


def _manifest(**kwargs):
    return Manifest.build(
        format_name="onnx",
        precision="fp32",
        model_name="ultralight_audio",
        run_id="run-1",
        labels=LABELS,
        spec=SPEC.model_dump(mode="json"),
        input_name="input",
        input_shape=[-1, SPEC.clip_samples],
        output_name="probabilities",
        temperature=1.0,
        export_id="e-1",
        **kwargs,
    )


def test_a_multilabel_manifest_says_sigmoid_and_carries_thresholds_per_label():
    manifest = _manifest(objective="multilabel", thresholds=THRESHOLDS)
    data = manifest.to_dict()
    assert data["objective"] == "multilabel" and data["thresholds"] == THRESHOLDS
    assert data["output"]["activation"] == "sigmoid" and Manifest.from_dict(data).multilabel
    assert _manifest().to_dict()["output"]["activation"] == "softmax"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"thresholds": None}, "needs per-class thresholds"),
        ({"thresholds": {**THRESHOLDS, "bat": 0.5}}, "does not have: bat"),
        ({"output_activation": "softmax"}, "activation is sigmoid, not softmax"),
        ({"objective": "single_label", "output_activation": "softmax"}, "belong to a multilabel manifest"),
    ],
)
def test_inconsistent_multilabel_manifests_are_refused_in_one_line(change, message):
    data = _manifest(objective="multilabel", thresholds=THRESHOLDS).to_dict()
    if "output_activation" in change:
        data["output"]["activation"] = change.pop("output_activation")
    data.update(change)
    with pytest.raises(ManifestError, match=message) as caught:
        Manifest.from_dict(data)
    assert "\n" not in str(caught.value)


def test_an_old_manifest_without_the_keys_reads_single_label():
    data = _manifest().to_dict()
    del data["objective"], data["thresholds"], data["output"]["activation"]
    manifest = Manifest.from_dict(data)
    assert manifest.objective == "single_label" and manifest.output.activation == "softmax"


def test_the_exported_graph_applies_sigmoid_for_multilabel_and_softmax_otherwise():
    model = _model().eval()
    x = torch.randn(2, SPEC.clip_samples) * 0.1
    logits = model.forward_waveform(x)
    with torch.no_grad():
        sigmoid = ExportableClassifier(model, temperature=2.0, activation="sigmoid")(x)
        softmax = ExportableClassifier(model, temperature=2.0)(x)
    assert torch.allclose(sigmoid, torch.sigmoid(logits / 2.0), atol=1e-6)
    assert torch.allclose(softmax, torch.softmax(logits / 2.0, dim=-1), atol=1e-6)


def test_the_report_section_reads_typed():
    report = {
        "multilabel": {
            "map": 0.7,
            "per_class": {
                "owl": {"ap": 0.7, "auroc": 0.9, "f1": 0.6, "precision": 0.5, "recall": 0.75, "threshold": 0.4}
            },
            "pr_curves": {"owl": {"precision": [1.0, 0.5], "recall": [0.25, 0.75]}},
        }
    }
    section = multilabel_report(report)
    assert section is not None and section.per_class["owl"].threshold == 0.4 and section.map == 0.7
    assert multilabel_report({"macro_f1": 0.5}) is None
