"""Multi-label data: a manifest's ``labels`` column, annotation windows by overlap, stratified group splits, and
the multi-hot targets the batches carry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nightscan_edge.data.annotation_windows import annotation_samples, covers, is_annotation_table, window_bounds
from nightscan_edge.data.annotations import Annotation, AnnotationError
from nightscan_edge.data.errors import DataError
from nightscan_edge.data.media import media_segment
from nightscan_edge.data.sources import Sample, list_dataset
from nightscan_edge.data.splits import make_split
from nightscan_edge.data.targets import as_multilabel, as_single_label, multi_hot, positive_weights, strata
from nightscan_edge.run_folder import read_split, write_split
from tests.conftest import write_tone


def _manifest(root: Path, rows: list[str], header: str = "path,labels,group") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for row in rows:
        write_tone(root / row.split(",")[0], 440, 0.2, 8000)
    (root / "manifest.csv").write_text("\n".join([header, *rows]) + "\n")
    return root / "manifest.csv"


def test_labels_column_lists_every_label_of_a_clip_and_empty_as_a_negative(tmp_path):
    manifest = _manifest(
        tmp_path / "set", ["a.wav,owl;frog,n1", "b.wav, frog ,n2", "c.wav,,n3", "d.wav,frog;owl;owl,n4"]
    )
    listing = list_dataset(manifest)
    assert listing.multilabel
    assert [s.targets for s in listing.samples] == [("frog", "owl"), ("frog",), (), ("frog", "owl")]
    assert listing.labels == ["frog", "owl"]
    assert listing.counts() == {"frog": 3, "owl": 2}


def test_a_manifest_with_label_and_labels_columns_is_refused(tmp_path):
    manifest = _manifest(tmp_path / "set", ["a.wav,owl,owl"], header="path,label,labels")
    with pytest.raises(DataError, match="both a label and a labels column"):
        list_dataset(manifest)


def test_an_annotation_table_listed_as_a_manifest_says_how_to_use_it(tmp_path):
    table = _annotated(tmp_path, ["night0.wav,0.5,1.0,owl"], recordings=1)
    with pytest.raises(DataError, match="annotation table.*train.objective=multilabel"):
        list_dataset(table)


def test_window_is_positive_when_the_call_covers_the_shorter_of_window_and_call():
    window = (3.0, 6.0)
    chirp_inside = Annotation(Path("r.wav"), 4.0, 4.3, "owl")
    chirp_mostly_before = Annotation(Path("r.wav"), 2.8, 3.1, "owl")  # a third of the chirp inside
    chorus = Annotation(Path("r.wav"), 4.4, 20.0, "frog")  # covers 1.6 s of the 3 s window
    grazing_chorus = Annotation(Path("r.wav"), 5.0, 20.0, "frog")  # covers a third of the window
    assert covers(chirp_inside, *window, 0.5)
    assert not covers(chirp_mostly_before, *window, 0.5)
    assert covers(chorus, *window, 0.5)
    assert not covers(grazing_chorus, *window, 0.5)
    assert covers(grazing_chorus, *window, 0.3)


def test_windows_are_back_to_back_and_the_last_ends_at_the_recording_end():
    assert window_bounds(7.0, 3.0) == [(0.0, 3.0), (3.0, 6.0), (4.0, 7.0)]
    assert window_bounds(2.0, 3.0) == [(0.0, 2.0)]


def _annotated(tmp_path: Path, rows: list[str], recordings: int = 3) -> Path:
    for index in range(recordings):
        write_tone(tmp_path / f"night{index}.wav", 440, 6.0, 8000, seed=index)
    table = tmp_path / "calls.csv"
    table.write_text("\n".join(["path,start_s,end_s,label", *rows]) + "\n")
    return table


def test_annotation_csv_becomes_multi_label_windows_with_negatives(tmp_path):
    table = _annotated(
        tmp_path, ["night0.wav,0.5,1.0,owl", "night0.wav,0.2,2.5,frog", "night1.wav,4.0,4.2,owl", "night2.wav,5,6,frog"]
    )
    assert is_annotation_table(table)
    samples = annotation_samples(table, window_s=2.0, min_overlap=0.5)
    targets = {(Path(media_segment(s.path)[0]).name, media_segment(s.path)[1]): s.targets for s in samples}
    assert targets[("night0.wav", (0.0, 2.0))] == ("frog", "owl")
    assert targets[("night0.wav", (2.0, 4.0))] == ()  # 0.5 s of the 2.3 s chorus: under half the window
    assert targets[("night1.wav", (4.0, 6.0))] == ("owl",)
    assert targets[("night2.wav", (4.0, 6.0))] == ("frog",)
    assert sum(not s.targets for s in samples) == 6  # 9 windows, 3 with a call
    assert {s.group for s in samples} == {str(tmp_path / f"night{i}.wav") for i in range(3)}  # one group per night


@pytest.mark.parametrize(
    ("row", "words"),
    [
        ("night0.wav,5.0,9.0,owl", "past the end"),
        ("night0.wav,3.0,2.0,owl", "not before end"),
        ("night0.wav,0.9,1.5,owl", "overlaps"),
    ],
    ids=["past_the_end", "start_after_end", "overlapping_duplicate"],
)
def test_bad_annotation_rows_are_one_error(tmp_path, row, words):
    table = _annotated(tmp_path, ["night0.wav,0.5,1.0,owl", row], recordings=1)
    with pytest.raises(AnnotationError, match=words):
        annotation_samples(table, 2.0, 0.5)


def _multilabel_samples(count: int = 40) -> list[Sample]:
    rng = np.random.default_rng(0)
    samples = []
    for index in range(count):
        targets = tuple(sorted(label for label in ("owl", "frog", "bat") if rng.random() < 0.35))
        samples.append(Sample(Path(f"{index}.wav"), ";".join(targets), group=f"rec{index // 2}", targets=targets))
    samples.append(Sample(Path("rare1.wav"), "rare", group="r1", targets=("rare",)))
    samples.append(Sample(Path("rare2.wav"), "owl;rare", group="r2", targets=("owl", "rare")))
    return samples


def test_multilabel_split_keeps_groups_whole_and_every_label_in_train_and_val():
    plan = make_split(_multilabel_samples(), val_fraction=0.25, seed=3)
    assert "iterative stratification" in plan.method
    for split in ("train", "val"):
        present = {label for e in plan.of(split) for label in e.targets or ()}
        assert present == {"owl", "frog", "bat", "rare"}, split
        assert any(e.targets == () for e in plan.of(split)), "negatives on both sides"
    sides: dict[str, set[str]] = {}
    for entry in plan.entries:
        sides.setdefault(entry.group or "", set()).add(entry.split)
    assert all(len(s) == 1 for s in sides.values())


def test_a_label_too_rare_to_validate_is_named(tmp_path):
    samples = _multilabel_samples()[:-1]  # "rare" left in one clip
    with pytest.raises(DataError, match=r"rare \(1\).*add clips or drop it"):
        make_split(samples)


def test_split_csv_round_trips_the_label_sets(tmp_path):
    plan = make_split(_multilabel_samples(), seed=1)
    write_split(plan, tmp_path / "split.csv")
    assert read_split(tmp_path / "split.csv").entries == plan.entries


def test_objectives_read_the_samples_their_way():
    folder = [Sample(Path("a.wav"), "owl"), Sample(Path("b.wav"), "background")]
    assert [s.targets for s in as_multilabel(folder, background=True)] == [("owl",), ()]
    one_each = [Sample(Path("a.wav"), "owl", targets=("owl",))]
    assert as_single_label(one_each, "m.csv")[0] == Sample(Path("a.wav"), "owl")
    with pytest.raises(DataError, match="train.objective=multilabel"):
        as_single_label([Sample(Path("a.wav"), "frog;owl", targets=("frog", "owl"))], "m.csv")


def test_multi_hot_rows_strata_and_positive_weights():
    targets = multi_hot([("owl",), ("frog", "owl"), (), ("owl",)], ["frog", "owl"])
    assert targets.tolist() == [[0, 1], [1, 1], [0, 0], [0, 1]]
    assert strata(targets) == [1, 0, 2, 1]  # rarest positive label; negatives one past the last
    assert positive_weights(targets).tolist() == [3.0, pytest.approx(1 / 3)]
