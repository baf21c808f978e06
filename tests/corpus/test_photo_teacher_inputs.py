"""Bad input to photo distillation and pretrained photo models, corpus style: a teacher whose labels do not cover
the student's, a 1-channel teacher for a 3-channel student, an unlabelled folder with no readable photo, and
ImageNet weights asked for without their extra. Each case: exit code 2, ONE ``error:`` line naming the problem,
the inputs untouched, no checkpoint and no report written."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nightscan_edge.config import resolve_config
from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.train import train
from tests.corpus.conftest import assert_one_line_error, tree_hash

FAST = ["--epochs", "1", "--batch-size", "4", "--set", "train.min_steps_per_epoch=0", "--no-progress"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("corpus") / "photos", kind="photo", per_class=4, image_size=32, seed=5
    )


@pytest.fixture(scope="module")
def grey_teacher(photos, tmp_path_factory) -> Path:
    """A finished 1-epoch grey (1-channel) photo run on the four synthetic classes."""
    config = resolve_config(
        {
            "data": {"path": str(photos)},
            "model": {"name": "mobilenet_v3_small_photo", "image_size": 32, "channels": 1},
            "train": {"epochs": 1, "batch_size": 4, "min_steps_per_epoch": 0},
        }
    )
    return train(config, run_dir=tmp_path_factory.mktemp("teacher") / "grey", progress=False).run_dir


def _with_extra_class(photos: Path, target: Path) -> Path:
    """The photos as class folders plus a class ``owl`` the teacher never saw."""
    for path in sorted(photos.rglob("*.png")):
        (target / path.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, target / path.parent.name / path.name)
    (target / "owl").mkdir()
    for index, path in enumerate(sorted(photos.rglob("*.png"))[:4]):
        shutil.copy(path, target / "owl" / f"owl_{index}.png")
    return target


def _assert_nothing_trained(run: Path) -> None:
    assert not (run / "best.ckpt").exists() and not (run / "report.json").exists()
    if (run / "status.json").exists():
        assert json.loads((run / "status.json").read_text())["status"] == "failed"


CASES = {
    # case: (student channels, student data, unlabelled folder, words of the one error line)
    "teacher_labels_do_not_cover": (1, "with_owl", None, ("cannot map the student's label", "owl")),
    "grey_teacher_colour_student": (3, "photos", None, ("1-channel", "model.channels=1")),
    "unlabeled_without_a_readable_photo": (1, "photos", "broken", ("--unlabeled", "no readable photo")),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_photo_distillation_with_bad_input_fails_in_one_line(case, photos, grey_teacher, tmp_path, cli):
    channels, data_kind, unlabeled_kind, words = CASES[case]
    data = _with_extra_class(photos, tmp_path / "with_owl") if data_kind == "with_owl" else photos
    argv = ["--teacher", grey_teacher]
    if unlabeled_kind:
        broken = tmp_path / "broken"
        broken.mkdir()
        for index in range(3):
            (broken / f"frame_{index}.jpg").write_bytes(b"\xff\xd8 not really a JPEG")
        argv += ["--unlabeled", broken]
    before = tree_hash(data, grey_teacher, tmp_path / "broken")
    run = tmp_path / "run"
    code, stderr = cli(
        "train",
        "--data",
        data,
        "--model",
        "mobilenet_v3_small_photo",
        "--set",
        "model.image_size=32",
        "--set",
        f"model.channels={channels}",
        "--run-dir",
        run,
        *argv,
        *FAST,
    )
    assert code == 2
    assert_one_line_error(stderr, *words)
    assert tree_hash(data, grey_teacher, tmp_path / "broken") == before
    _assert_nothing_trained(run)


def test_imagenet_weights_without_their_extra_fail_in_one_line(photos, tmp_path, cli, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)  # the pretrained-photo extra not installed
    before = tree_hash(photos)
    run = tmp_path / "run"
    code, stderr = cli(
        "train",
        "--data",
        photos,
        "--model",
        "efficientnet_lite0_photo",
        "--set",
        "model.image_size=32",
        "--run-dir",
        run,
        *FAST,
    )
    assert code == 2
    assert_one_line_error(stderr, "pip install 'nightscan-edge[pretrained-photo]'", "model.weights=none")
    assert tree_hash(photos) == before
    _assert_nothing_trained(run)
