"""Listing folders and manifests, and every split rule (manifest split, folds, groups, stratified)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from nightscan_edge.data import DataError, list_dataset
from nightscan_edge.data.sources import Sample
from nightscan_edge.data.splits import make_split, read_split, write_split


def _touch(path: Path, content: bytes = b"x") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_folder_listing_finds_classes_and_sets_aside_non_media(tmp_path):
    for label in ("owl", "bat"):
        for i in range(3):
            _touch(tmp_path / label / f"{i}.wav")
    _touch(tmp_path / "owl" / "notes.txt")
    _touch(tmp_path / "owl" / ".DS_Store")
    listing = list_dataset(tmp_path)
    assert listing.kind == "audio"
    assert listing.counts() == {"bat": 3, "owl": 3}
    assert [p.name for p in listing.not_media] == ["notes.txt"]


def test_manifest_listing_reads_optional_columns(tmp_path):
    (tmp_path / "manifest.csv").write_text("path,label,split,group\na.jpg,fox,train,g1\nb.jpg,deer,val,g2\n")
    listing = list_dataset(tmp_path / "manifest.csv")
    assert listing.kind == "image"
    assert listing.samples[0] == Sample(tmp_path / "a.jpg", "fox", "train", None, "g1")


@pytest.mark.parametrize(
    "text, message",
    [
        ("file,label\na.wav,x\n", "missing column"),
        ("path,label\n", "lists no files"),
        ("path,label\na.wav,\n", "empty path or label"),
    ],
)
def test_bad_manifests_fail_with_the_reason(tmp_path, text, message):
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(DataError, match=message):
        list_dataset(tmp_path / "m.csv")


def test_missing_path_and_mixed_kinds_fail(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_dataset(tmp_path / "nope")
    _touch(tmp_path / "a" / "1.wav")
    _touch(tmp_path / "b" / "1.png")
    with pytest.raises(DataError, match="mixes audio"):
        list_dataset(tmp_path)


def _samples(counts: dict[str, int], **extra) -> list[Sample]:
    return [
        Sample(Path(f"{label}/{i}.wav"), label, **{k: v(label, i) for k, v in extra.items()})
        for label, n in counts.items()
        for i in range(n)
    ]


def test_stratified_split_is_seeded_and_keeps_every_class_in_val():
    samples = _samples({"a": 20, "b": 5, "c": 2})
    plan = make_split(samples, val_fraction=0.2, seed=3)
    assert plan == make_split(samples, val_fraction=0.2, seed=3)
    val = Counter(e.label for e in plan.of("val"))
    assert val == {"a": 4, "b": 1, "c": 1}
    assert make_split(samples, val_fraction=0.2, seed=4).of("val") != plan.of("val")


def test_groups_never_span_two_splits():
    samples = _samples({"a": 30, "b": 30}, group=lambda label, i: f"{label}-rec{i // 3}")
    plan = make_split(samples, val_fraction=0.25, test_fraction=0.25, seed=0)
    split_of_group: dict[str, set[str]] = {}
    for entry in plan.entries:
        split_of_group.setdefault(entry.group, set()).add(entry.split)
    assert all(len(splits) == 1 for splits in split_of_group.values())
    assert {e.split for e in plan.entries} == {"train", "val", "test"}


def test_manifest_split_and_folds_are_used():
    samples = _samples({"a": 4, "b": 4}, split=lambda label, i: "val" if i == 0 else "train")
    plan = make_split(samples)
    assert sorted(e.path.name for e in plan.of("val")) == ["0.wav", "0.wav"]
    folds = _samples({"a": 6, "b": 6}, fold=lambda label, i: str(i % 3 + 1))
    assert {e.path.name for e in make_split(folds).of("val")} == {"2.wav", "5.wav"}  # last fold (3)
    assert {e.path.name for e in make_split(folds, val_fold="1").of("val")} == {"0.wav", "3.wav"}
    with pytest.raises(DataError, match="not a fold"):
        make_split(folds, val_fold="9")


def test_a_split_column_with_other_meanings_is_ignored():
    samples = _samples({"a": 5, "b": 5}, split=lambda label, i: "shared")
    assert "stratified" in make_split(samples).method


@pytest.mark.parametrize(
    "counts, message",
    [
        ({}, "empty"),
        ({"a": 10}, "only one class"),
        ({"a": 10, "b": 1}, r"fewer than 2 examples: b \(1\)"),
    ],
)
def test_unusable_class_sets_fail_before_training(counts, message):
    with pytest.raises(DataError, match=message):
        make_split(_samples(counts))


def test_split_round_trips_through_csv(tmp_path):
    plan = make_split(_samples({"a": 5, "b": 5}, group=lambda label, i: f"g{i}"), seed=1)
    write_split(plan, tmp_path / "split.csv")
    assert read_split(tmp_path / "split.csv").entries == plan.entries
