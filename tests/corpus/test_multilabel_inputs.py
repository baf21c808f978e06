"""Bad multi-label input to ``train``: exit 2, ONE ``error:`` line naming the problem, the user's files unchanged and
no checkpoint written."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from nightscan_edge.run_folder import CHECKPOINT_KEY
from nightscan_edge.safe_load import load_torch_file
from tests.conftest import write_tone
from tests.corpus.conftest import assert_one_line_error, tree_hash
from tests.train.conftest import TINY_AUDIO

TINY = [f"--set=model.audio.{key}={value}" for key, value in TINY_AUDIO.items()]


def _labels_manifest(root: Path) -> Path:
    """Six clips; 'cricket' in one of them only: it can never reach both training and validation."""
    rows = ["path,labels"]
    for index, labels in enumerate(["owl", "frog", "owl;frog", "owl", "frog;cricket", ""]):
        write_tone(root / f"c{index}.wav", 500 + 300 * index, 0.3, 8000, seed=index)
        rows.append(f"c{index}.wav,{labels}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def _annotations(root: Path, bad_row: str) -> Path:
    for index in range(3):
        write_tone(root / f"night{index}.wav", 600, 4.0, 8000, seed=index)
    rows = ["path,start_s,end_s,label", "night0.wav,0.5,1.0,owl", "night1.wav,1.0,2.0,frog", bad_row]
    (root / "calls.csv").write_text("\n".join(rows) + "\n")
    return root / "calls.csv"


ANNOTATION_CASES = {
    "past_the_end": ("night2.wav,3.0,9.5,owl", ("past the end", "9.5")),
    "start_after_end": ("night2.wav,3.0,2.0,owl", ("not before end",)),
    "overlapping_duplicate": ("night0.wav,0.8,1.4,owl", ("overlaps", "merge them")),
}


def _train(cli, data: Path, run: Path, *extra: str) -> tuple[int, str]:
    return cli("train", "--data", data, "--model", "ultralight_audio", "--run-dir", run, "--no-progress", *TINY, *extra)


def test_a_label_too_rare_to_validate_is_named(tmp_path, cli):
    data = _labels_manifest(tmp_path / "set")
    before = tree_hash(data)
    code, stderr = _train(cli, data, tmp_path / "run", "--set", "train.objective=multilabel")
    assert code == 2
    assert_one_line_error(stderr, "cricket (1)", "add clips or drop it")
    assert tree_hash(data) == before and not (tmp_path / "run" / "best.ckpt").exists()


@pytest.mark.parametrize("case", sorted(ANNOTATION_CASES))
def test_bad_annotation_rows_stop_training_in_one_line(case, tmp_path, cli):
    row, words = ANNOTATION_CASES[case]
    table = _annotations(tmp_path / "set", row)
    before = tree_hash(table.parent)
    code, stderr = _train(cli, table, tmp_path / "run", "--set", "train.objective=multilabel")
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(table.parent) == before and not (tmp_path / "run" / "best.ckpt").exists()


def test_a_softmax_teacher_cannot_teach_a_multilabel_student(tiny_run, corpus_audio, tmp_path, cli):
    code, stderr = _train(
        cli, corpus_audio, tmp_path / "run", "--set", "train.objective=multilabel", "--set", f"train.teacher={tiny_run}"
    )
    assert code == 2
    assert_one_line_error(stderr, "single-label (softmax)", "train.objective=multilabel")
    assert not (tmp_path / "run" / "best.ckpt").exists()


def test_a_multilabel_teacher_cannot_teach_a_softmax_student(run_copy, corpus_audio, tmp_path, cli):
    checkpoint = load_torch_file(run_copy / "best.ckpt")
    checkpoint[CHECKPOINT_KEY]["objective"] = "multilabel"
    torch.save(checkpoint, run_copy / "best.ckpt")
    code, stderr = _train(cli, corpus_audio, tmp_path / "student", "--set", f"train.teacher={run_copy}")
    assert code == 2
    assert_one_line_error(stderr, "multi-label", "single-label student")
    assert not (tmp_path / "student" / "best.ckpt").exists()
