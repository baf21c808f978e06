"""The multi-label half of the bad-input corpus on the export/predict side (docs/multilabel.md): a file whose
manifest says multilabel but cannot be used, and a multi-label run that cannot be exported yet. Each case exits 2
with ONE ``error:`` line naming the problem, and writes nothing (no CSV, no export folder)."""

from __future__ import annotations

import pytest

from nightscan_edge.artifact.manifest import read_manifest
from nightscan_edge.artifact.onnx import embed_onnx
from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.models import create_model
from tests.conftest import write_tone
from tests.corpus.conftest import assert_one_line_error, tree_hash
from tests.predict.conftest import AUDIO_LABELS, MULTILABEL_THRESHOLDS, TINY_AUDIO_SPEC, export_tiny_onnx


@pytest.fixture(scope="module")
def tiny_multilabel_onnx(tmp_path_factory):
    """A hand-made multi-label checkpoint (random weights, one threshold per class) exported to ONNX."""
    run = tmp_path_factory.mktemp("multilabel") / "run"
    model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=TINY_AUDIO_SPEC).eval()
    save_standalone_checkpoint(
        run / "best.ckpt", model, AUDIO_LABELS, objective="multilabel", thresholds=MULTILABEL_THRESHOLDS
    )
    return export_tiny_onnx(run, run / "export")


MANIFEST_EDITS = {
    "no_thresholds": (lambda m: m.pop("thresholds"), ["multilabel manifest without per-class thresholds"]),
    "null_thresholds": (lambda m: m.update(thresholds=None), ["without per-class thresholds"]),
    "unknown_label": (lambda m: m.update(thresholds={**MULTILABEL_THRESHOLDS, "wolf": 0.5}), ["does not have", "wolf"]),
    "missing_label": (lambda m: m.update(thresholds={"owl": 0.5, "fox": 0.5}), ["no threshold", "bat"]),
    "threshold_above_one": (lambda m: m.update(thresholds={**MULTILABEL_THRESHOLDS, "owl": 1.5}), ["[0, 1]", "owl"]),
    "softmax_output": (lambda m: m["output"].update(activation="softmax"), ["multilabel manifest", "softmax"]),
    "unknown_objective": (lambda m: m.update(objective="several"), ["objective", "several"]),
}


@pytest.mark.parametrize("case", sorted(MANIFEST_EDITS))
def test_predict_refuses_a_multilabel_manifest_that_cannot_work(case, tiny_multilabel_onnx, tmp_path, cli):
    edit, words = MANIFEST_EDITS[case]
    broken = tmp_path / "model.onnx"
    broken.write_bytes(tiny_multilabel_onnx.read_bytes())
    manifest = read_manifest(broken)
    edit(manifest)
    embed_onnx(broken, manifest)
    recording = write_tone(tmp_path / "night" / "clip.wav", 500, 1.0, 8000)
    before = tree_hash(recording.parent)
    out, raven = tmp_path / "out.csv", tmp_path / "out.selections.txt"
    code, stderr = cli("predict", broken, recording.parent, "--out", out, "--raven", raven)
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert not out.exists() and not raven.exists() and tree_hash(recording.parent) == before


def test_export_refuses_a_multilabel_checkpoint_without_thresholds(tmp_path, cli):
    run = tmp_path / "run"
    model = create_model("ultralight_audio", len(AUDIO_LABELS), spec=TINY_AUDIO_SPEC)
    save_standalone_checkpoint(run / "best.ckpt", model, AUDIO_LABELS, objective="multilabel")
    before = tree_hash(run)
    code, stderr = cli("export", run, "--formats", "onnx")
    assert code == 2
    assert_one_line_error(stderr, "multilabel", "without per-class thresholds")
    assert tree_hash(run) == before and not (run / "exports").exists()


def test_fallback_report_refuses_a_multilabel_file(tiny_multilabel_onnx, tmp_path, cli):
    code, stderr = cli("predict", tiny_multilabel_onnx, "--fallback-report", tmp_path / "server-run")
    assert code == 2
    assert_one_line_error(stderr, "multilabel", "--near-threshold")
