"""A photo run as teacher: the teacher's view of the student's photos, the exact view cache, unlabelled photos,
labels matched by name, and the teacher's licence carried into the student's checkpoint and exports."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nightscan_edge.config import PhotoAugmentConfig, resolve_config
from nightscan_edge.config_layers import ConfigError
from nightscan_edge.data.batches import TrainBatches
from nightscan_edge.data.media import read_image
from nightscan_edge.data.photo_augment import PhotoAugment, normalise, renormalise
from nightscan_edge.models import create_model
from nightscan_edge.spec import IMAGENET_MEAN, IMAGENET_STD, ImageSpec
from nightscan_edge.train import read_events, train
from nightscan_edge.train.distill import Teacher, load_teacher
from nightscan_edge.train.photo_teacher import UnlabeledPhotos, augmented, score_views

GREY = {"channels": 1, "mean": (0.449,), "std": (0.226,)}
AUGMENT = PhotoAugmentConfig(trivial_augment=True, erasing_probability=0.5)
LICENCE = "Apache-2.0 (test ImageNet weights)"


def photo_config(data, image_size=32, channels=3, **train_options):
    return resolve_config(
        {
            "data": {"path": str(data)},
            "model": {"name": "mobilenet_v3_small_photo", "image_size": image_size, "channels": channels},
            "train": {"epochs": 1, "batch_size": 8, "min_steps_per_epoch": 0, **train_options},
        }
    )


def with_licence(run_dir: Path, licence: str) -> Path:
    """The run as if its weights came with terms (what an ImageNet-initialised run records)."""
    checkpoint = torch.load(run_dir / "best.ckpt", map_location="cpu", weights_only=True)
    checkpoint["nightscan"]["licence"] = licence
    torch.save(checkpoint, run_dir / "best.ckpt")
    return run_dir


@pytest.fixture(scope="module")
def teacher_run(synth_photo, tmp_path_factory) -> Path:
    """A 48 px colour teacher: another size than the 32 px students below, so every student needs its own view."""
    run = train(photo_config(synth_photo, image_size=48), run_dir=tmp_path_factory.mktemp("t") / "t", progress=False)
    return with_licence(run.run_dir, LICENCE)


@pytest.fixture(scope="module")
def unlabeled(synth_photo, tmp_path_factory) -> Path:
    """A flat folder of photos (no labels), with a note that is not a photo."""
    folder = tmp_path_factory.mktemp("unlabeled")
    for index, path in enumerate(sorted(synth_photo.rglob("*.png")) * 2):  # 48 frames, twice the 24 photos
        shutil.copy(path, folder / f"frame_{index:03d}.png")
    (folder / "notes.txt").write_text("not a photo")
    return folder


def test_renormalise_gives_the_teacher_the_pixels_it_would_read_itself(synth_photo):
    photo = sorted(synth_photo.rglob("*.png"))[0]
    student, teacher = ImageSpec(image_size=32), ImageSpec(image_size=32, mean=(0.5, 0.5, 0.5), std=(0.25,) * 3)
    batch = normalise(torch.from_numpy(read_image(photo, student))[None], student)
    expected = normalise(torch.from_numpy(read_image(photo, teacher))[None], teacher)
    assert torch.allclose(renormalise(batch, student, teacher), expected, atol=1e-5)
    grey = ImageSpec(image_size=32, **GREY)
    grey_batch = normalise(torch.from_numpy(read_image(photo, grey))[None], grey)
    colour_view = renormalise(grey_batch, grey, ImageSpec(image_size=32))
    assert colour_view.shape == (1, 3, 32, 32)  # a grey photo repeated to three channels, as a reader would
    pixels = colour_view * torch.tensor(IMAGENET_STD)[:, None, None] + torch.tensor(IMAGENET_MEAN)[:, None, None]
    assert torch.allclose(pixels[:, 0], pixels[:, 2], atol=1e-5)
    assert renormalise(batch, student, ImageSpec(image_size=64)).shape == (1, 3, 64, 64)
    with pytest.raises(ValueError, match="grey"):
        renormalise(batch, student, grey)


def _teacher(labels: int = 4, size: int = 48) -> Teacher:
    torch.manual_seed(0)
    model = create_model("mobilenet_v3_small_photo", labels, spec=ImageSpec(image_size=size))
    return Teacher(model, ImageSpec(image_size=32), temperature=2.0, alpha=0.5)


def test_cached_views_hold_the_teachers_logits_on_exactly_the_pixels_trained_on():
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    teacher = _teacher()
    augment = PhotoAugment(AUGMENT, teacher.student_spec)
    views = score_views(images, augment, teacher, views=3, seed=7, device=torch.device("cpu"))
    assert views.logits.shape == (15, 4) and views.params["theta"].shape == (15, 2, 3)
    rows = np.array([0, 4, 14])  # photo 0 view 0, photo 1 view 1, photo 4 view 2
    view = augmented(images[torch.from_numpy(rows // 3)], views.params_of(rows), augment, teacher.student_spec)
    assert torch.allclose(teacher.logits(view, view), torch.from_numpy(views.logits[rows]), atol=1e-5)
    again = score_views(images, augment, teacher, views=3, seed=7, device=torch.device("cpu"))
    assert np.array_equal(again.logits, views.logits)  # the views are a function of the seed

    # The batch data path draws among the views and carries the logits of the view each photo got.
    batches = TrainBatches(images, np.arange(5) % 2, augment, seed=0, views=views)
    batch = batches[(0, 0, 0, 1, np.array([3, 1, 4]))]
    chosen = [
        int(np.flatnonzero((views.params["theta"] == theta.numpy()).all(axis=(1, 2)))[0]) for theta in batch["theta"]
    ]
    assert [row // 3 for row in chosen] == [3, 1, 4]
    assert torch.equal(batch["teacher_logits"], torch.from_numpy(views.logits[chosen]))


def test_unlabeled_photos_come_with_the_teachers_logits_on_the_same_view():
    images = torch.randint(0, 256, (6, 3, 32, 32), dtype=torch.uint8)
    teacher = _teacher()
    augment = PhotoAugment(AUGMENT, teacher.student_spec)
    live = UnlabeledPhotos(images, augment, teacher)
    inputs, logits = live.batch(np.random.default_rng(0), 4)
    assert inputs.shape == (4, 3, 32, 32) and torch.allclose(logits, teacher.logits(inputs, inputs))
    cached = UnlabeledPhotos(
        images, augment, teacher, score_views(images, augment, teacher, 2, seed=1, device=torch.device("cpu"))
    )
    inputs, logits = cached.batch(np.random.default_rng(0), 4)
    assert torch.allclose(logits, teacher.logits(inputs, inputs), atol=1e-5)


def test_a_teacher_with_more_classes_teaches_the_students_by_name(teacher_run, synth_photo, tmp_path):
    labels = (teacher_run / "labels.txt").read_text().split()
    student_labels = [labels[2], labels[0]]
    teacher = load_teacher(teacher_run, student_labels, ImageSpec(image_size=32), 4.0, 0.5)
    assert teacher.columns == [2, 0] and teacher.licence == LICENCE
    batch = torch.randn(2, 3, 32, 32)
    full = teacher.model(renormalise(batch, ImageSpec(image_size=32), teacher.spec))
    assert torch.allclose(teacher.logits(batch, batch), full[:, [2, 0]])
    with pytest.raises(ConfigError, match="cannot map the student's label.*owl"):
        load_teacher(teacher_run, [labels[0], "owl"], ImageSpec(image_size=32), 4.0, 0.5)
    with pytest.raises(ConfigError, match="1-channel"):
        grey_run = train(photo_config(synth_photo, channels=1), run_dir=tmp_path / "grey", progress=False)
        load_teacher(grey_run.run_dir, labels, ImageSpec(image_size=32), 4.0, 0.5)


@pytest.mark.parametrize("views", [0, 2])
def test_student_learns_from_a_photo_teacher_with_unlabeled_photos(
    views, teacher_run, synth_photo, unlabeled, tmp_path
):
    config = photo_config(
        synth_photo, teacher=str(teacher_run), unlabeled=str(unlabeled), teacher_views=views, batch_size=4
    )
    run = train(config, run_dir=tmp_path / "student", progress=False)
    assert run.status == "done"
    events = read_events(run.run_dir / "events.jsonl")
    start = next(e for e in events if e["type"] == "run_start")
    assert start["batches_per_epoch"] == 12  # an epoch passes over the 48 unlabelled photos once (4 a step)
    notes = [e["message"] for e in events if e["type"] == "log" and "photo teacher" in e["message"]]
    assert notes and "48 photo(s)" in notes[0] and (("exact cache" in notes[0]) == bool(views))
    checkpoint = torch.load(run.best_checkpoint, map_location="cpu", weights_only=True)
    assert not any("teacher" in key for key in checkpoint["state_dict"])
    assert checkpoint["nightscan"]["licence"] == LICENCE and checkpoint["nightscan"]["spec"]["image_size"] == 32


@pytest.mark.slow
def test_a_distilled_photo_student_exports_as_before_with_the_teachers_licence(
    teacher_run, synth_photo, unlabeled, tmp_path
):
    from nightscan_edge.export import export_run, read_manifest

    # with a weight average too: it copies the student alone, never the teacher or its cached views
    config = photo_config(
        synth_photo, teacher=str(teacher_run), unlabeled=str(unlabeled), teacher_views=1, ema_decay=0.9
    )
    run = train(config, run_dir=tmp_path / "student", progress=False)
    checkpoint = torch.load(run.best_checkpoint, map_location="cpu", weights_only=True)
    assert "current_model_state" in checkpoint and not any("teacher" in key for key in checkpoint["state_dict"])
    report = export_run(run.run_dir, formats=["onnx"], int8=True, out_dir=tmp_path / "export")
    fp32 = report.artifact("onnx")
    assert fp32.status == "ok", fp32.error  # preprocessing inside, parity checked as for any run
    assert report.artifact("onnx", "int8").status in ("ok", "rejected"), report.artifact("onnx", "int8").error
    manifest = read_manifest(report.out_dir / "model.onnx")
    assert manifest["licence"] == LICENCE and manifest["input"]["shape"] == [-1, 3, 32, 32]
    assert report.licence == LICENCE


def test_unreadable_photos_only_in_the_unlabeled_folder_are_refused(tmp_path):
    from nightscan_edge.data.errors import DataError
    from nightscan_edge.train.photo_teacher import read_unlabeled_photos

    folder = tmp_path / "broken"
    folder.mkdir()
    for index in range(3):
        (folder / f"{index}.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="holds no readable photo"):
        read_unlabeled_photos(str(folder), ImageSpec(image_size=32), 0.1)
    Image.new("RGB", (8, 8)).save(folder / "ok.png")
    with pytest.raises(DataError, match="3 of 4 files are unreadable photos in --unlabeled"):
        read_unlabeled_photos(str(folder), ImageSpec(image_size=32), 0.1)
    assert read_unlabeled_photos(str(folder), ImageSpec(image_size=32), 0.9).shape == (1, 3, 32, 32)


def test_a_photo_teacher_scores_in_channels_last_with_the_same_logits():
    model = create_model("mobilenet_v3_small_photo", 3, input_size=48).eval()
    reference_model = create_model("mobilenet_v3_small_photo", 3, input_size=48).eval()
    reference_model.load_state_dict(model.state_dict())
    student = ImageSpec(image_size=32)
    teacher = Teacher(model, student, temperature=4.0, alpha=0.7)
    photos = normalise(torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8), student)
    with torch.no_grad():
        expected = reference_model(renormalise(photos, student, model.spec))
    conv = next(m for m in teacher.model.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert torch.allclose(teacher.logits(photos, photos), expected, atol=1e-5)
