"""The benchmarks a newcomer reads to reproduce a figure: small files sharing one helper module
(``benchmarks/bench_common.py``), whose results writer the docs depend on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
BENCHMARKS = ROOT / "benchmarks"
MAX_LINES = 400

if str(BENCHMARKS) not in sys.path:  # the benchmarks import their siblings as scripts do
    sys.path.insert(0, str(BENCHMARKS))

import bench_common  # noqa: E402 -- needs benchmarks/ on the path first


def test_no_benchmark_file_is_over_400_lines():
    sizes = {path.name: len(path.read_text(encoding="utf-8").splitlines()) for path in BENCHMARKS.glob("*.py")}
    assert "bench_common.py" in sizes
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def _result(**extra: object) -> dict[str, object]:
    return {
        "title": "t",
        "date": bench_common.today(),
        "machine": bench_common.machine_summary(1),
        "command": bench_common.command_line(["--x", "1"], script=str(BENCHMARKS / "few_shot.py")),
        "figures": [{"a": 1}],
        **extra,
    }


def test_result_writer_writes_the_keys_the_docs_need(tmp_path):
    path = bench_common.write_result(tmp_path / "results" / "x.json", _result(notes=["n"]))
    written = json.loads(path.read_text())
    assert list(written)[:5] == list(bench_common.REQUIRED_RESULT_KEYS)
    assert written["command"] == "python benchmarks/few_shot.py --x 1"
    assert len(written["date"]) == 10 and written["date"][4] == "-"
    assert "shared CPU cores" in written["machine"] and written["notes"] == ["n"]
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.json"]  # no temporary file left behind


def test_result_writer_refuses_missing_keys_and_a_failed_write_keeps_the_old_file(tmp_path):
    path = bench_common.write_result(tmp_path / "x.json", _result())
    before = path.read_text()
    incomplete = _result()
    del incomplete["machine"]
    with pytest.raises(ValueError, match="lack machine"):
        bench_common.write_result(path, incomplete)
    with pytest.raises(ValueError):  # NaN is refused while writing: the old file stays whole
        bench_common.write_result(path, _result(figures=[{"a": float("nan")}]))
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["x.json"]


def test_subsets_are_stratified_and_reproducible():
    items = [(f"/clips/{label}{i}.wav", label) for label in "ab" for i in range(20)] + [("/clips/c0.wav", "c")]
    pool, val, test = bench_common.stratified_split(items)
    assert sorted(pool + val + test) == sorted(items)
    assert (sum(label == "a" for _, label in test), sum(label == "a" for _, label in val)) == (6, 3)
    assert bench_common.stratified_split(items) == (pool, val, test)
    five = bench_common.sample_per_class(pool, 5, seed=0)
    assert [sum(label == name for _, label in five) for name in "ab"] == [5, 5]
    assert five == bench_common.sample_per_class(pool, 5, seed=0) != bench_common.sample_per_class(pool, 5, seed=1)
    assert sorted(bench_common.sample_per_class(pool, None, seed=0)) == sorted(pool)


def test_missing_shared_data_is_one_line(tmp_path):
    with pytest.raises(SystemExit, match="not found; this benchmark needs ../shared/data"):
        bench_common.read_labelled_manifest(tmp_path)


def test_few_shot_declares_each_variant_and_part_once():
    import few_shot  # imports the training stack: after the cheap tests

    assert list(few_shot.VARIANTS) == ["scratch", "head", "distilled", "distilled+u"]
    assert few_shot.EXTRA_KEYS == ("background_site", "background_gaps", "background", "int8_check")
    assert [name for name, part in few_shot.PARTS.items() if part.alone] == ["background"]
    with pytest.raises(SystemExit) as exit_info:
        few_shot.main(["--help"])
    assert exit_info.value.code == 0


def test_site_recordings_are_screened_in_pieces_and_their_row_states_what_it_rests_on():
    import numpy as np

    from few_shot_background import site_pieces
    from few_shot_report import background_note

    pieces = site_pieces(np.zeros(220_000), 22_000)  # a 10 s Song Meter file: three pieces of one BirdNET window+
    assert [(round(a, 3), round(b, 3)) for a, b in pieces] == [(0.0, 3.333), (3.333, 6.667), (6.667, 10.0)]
    assert site_pieces(np.zeros(22_000 * 2), 22_000) == []  # under one 3 s window: nothing BirdNET could screen
    part = {"recordings": 37, "stretches_kept": 80, "stretches_vetoed_by_birdnet": 31, "seconds_kept": 266.7}
    row = {
        "ambient": "real site recordings (site-ambient)",
        "ambient_hours": 266.7 / 3600,
        "ambient_files": 80,
        "call_clips": 154,
        "call_minutes": 9.5,
        "screen": {
            "train": {**part, "recordings": 19},
            "held": part,
            "vetoed_labels": ["Turdus merula_Eurasian Blackbird"],
        },
        "without": {"recall_on_calls": 0.9, "false_detections_per_hour": 540.0, "false_detection_windows": 40},
        "with": {
            "recall_on_calls": 0.9,
            "false_detections_per_hour": 27.0,
            "false_detection_windows": 2,
            "ambient_windows": 160,
        },
        "target_ratio": 0.2,
        "target_met": True,
    }
    note = background_note(row)
    assert "4.4 min held back in 80 file(s), 160 window(s)" in note and "90.0% of 154 test clips, 9.5 min" in note
    assert "vetoed 62 of 222 pieces (Turdus merula" in note and "target <= 1/5: met" in note


def test_command_line_is_relative_to_the_repository_whatever_the_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = bench_common.command_line([], script=str(BENCHMARKS / "train_throughput.py"))
    assert command == "python " + os.path.join("benchmarks", "train_throughput.py")


def test_new_species_gaps_are_against_the_head_of_the_same_draw():
    import new_species_report

    def run(variant, seed, accuracy, megabytes=None):
        int8 = {"size_mb": megabytes, "latency_ms_1_thread": 5.0} if megabytes else None
        return {
            "size": "10",
            "seed": seed,
            "variant": variant,
            "accuracy": accuracy,
            "macro_f1": 0.5,
            "seconds": 1.0,
            "int8": int8,
        }

    runs = [run("head", 0, 0.9), run("head", 1, 0.7), run("head", 2, 0.5)]  # seed 2: a head with no student
    runs += [run("distilled+u", 0, 0.86, 0.6), run("distilled+u", 1, 0.6, 0.6), run("phone", 0, 0.9, 7.4)]
    notes = new_species_report.gap_notes(new_species_report.summarise(runs), runs)
    student = next(n for n in notes if n.startswith("distilled+u"))
    assert "7.0 points behind" in student and "0: 4.0, 1: 10.0" in student and "NOT met" in student
    phone = next(n for n in notes if n.startswith("phone"))
    assert "0.0 points behind" in phone and "within 1 point(s)): met" in phone

    # a seed whose INT8 phone file the gate refused is a row scored on its FP16 file, and the note says so
    refused = run("phone", 1, 0.7)
    refused["int8"] = {"status": "rejected", "error": "owl recall -14.3 points", "scored": "fp16",
                       "scored_size_mb": 25.0, "latency_ms_1_thread": 9.0}  # fmt: skip
    runs.append(refused)
    summary = new_species_report.summarise(runs)
    assert next(r for r in summary if r["variant"] == "phone")["int8_mb"] == 7.4  # the refused file has no size
    phone = next(n for n in new_species_report.gap_notes(summary, runs) if n.startswith("phone"))
    assert "passed the export's gate on 1 of 2 seed(s)" in phone and "seed 1: owl recall -14.3 points" in phone


def test_new_species_mode_groups_similar_clips_and_keeps_each_group_on_one_side(tmp_path):
    import numpy as np
    import soundfile

    import new_species  # imports the training stack: after the cheap tests

    vectors = np.array([[1.0, 0.0], [0.99, 0.05], [0.0, 1.0], [1.0, 0.01]])
    groups = new_species.similar_groups(vectors, ["owl", "owl", "owl", "fox"], similarity=0.95)
    assert groups[0] == groups[1] and len({groups[0], groups[2], groups[3]}) == 3  # never across labels
    items = [(f"/c/{label}{i}.wav", label) for label in "ab" for i in range(20)]
    names = [f"{label}/{i // 4}" for label in "ab" for i in range(20)]  # recordings of 4 clips each
    pool, val, test = new_species.grouped_split(items, names)
    assert sorted(pool + val + test) == sorted(items)
    side = {item: part for part, members in (("pool", pool), ("val", val), ("test", test)) for item in members}
    for name in set(names):
        assert len({side[item] for item, group in zip(items, names, strict=True) if group == name}) == 1
    assert [sum(label == "a" for _, label in part) for part in (test, val)] == [8, 4]  # whole groups of 4
    clip = tmp_path / "src" / "a.wav"
    clip.parent.mkdir()
    soundfile.write(str(clip), np.sin(np.arange(22050) * 0.3).astype(np.float32), 22050)
    ((resampled, label),) = new_species.resample_set([(str(clip), "a")], tmp_path / "16k")
    assert label == "a" and soundfile.info(resampled).samplerate == 16000
    assert abs(soundfile.info(resampled).duration - 1.0) < 1e-3


def test_multilabel_mixtures_hold_their_species_over_ambience_and_cycle_the_species():
    import multilabel

    rng = np.random.default_rng(0)
    calls = {label: [0.1 * rng.standard_normal(3000).astype(np.float32)] for label in ("owl", "frog", "bat")}
    ambience = [0.01 * rng.standard_normal(multilabel.WINDOW * 2).astype(np.float32)]
    counts = {"single": 3, "mix2": 3, "mix3": 1, "ambience": 2}
    examples = multilabel.make_examples(counts, calls, ambience, seed=1)
    assert [e.kind for e in examples] == ["single"] * 3 + ["mix2"] * 3 + ["mix3"] + ["ambience"] * 2
    assert [e.labels for e in examples[:3]] == [("bat",), ("frog",), ("owl",)]  # each species in turn
    assert all(len(e.labels) == 2 and len(set(e.labels)) == 2 for e in examples[3:6])
    assert examples[6].labels == ("bat", "frog", "owl") and examples[-1].labels == ()
    assert all(e.waveform.shape == (multilabel.WINDOW,) and np.abs(e.waveform).max() <= 0.99 for e in examples)
    # a call sits 10-25 dB over the ambience: a mixture is far louder than ambience alone
    assert multilabel.rms(examples[3].waveform) > 3 * multilabel.rms(examples[-1].waveform)


def test_multilabel_figures_count_both_species_precision_and_the_threshold_tradeoff():
    import multilabel

    blank = np.zeros(multilabel.WINDOW, dtype=np.float32)
    test = [
        multilabel.Example(blank, ("frog",), "single"),
        multilabel.Example(blank, ("frog", "owl"), "mix2"),
        multilabel.Example(blank, ("bat", "owl"), "mix2"),
    ]
    labels, thresholds = ["bat", "frog", "owl"], np.array([0.5, 0.5, 0.5])
    scores = np.array([[0.1, 0.9, 0.2], [0.0, 0.8, 0.6], [0.35, 0.6, 0.7]])  # mix2 #2: bat under its threshold
    figures = multilabel.evaluate(scores, labels, thresholds, test, labels, np.zeros((1, 3)), 1.0)
    assert figures["both_reported_mix2"] == 0.5 and figures["single_accuracy"] == 1.0
    assert figures["precision_on_mixtures"] == 0.75  # frog + owl right; owl right, frog wrong
    tradeoff = {row["threshold_scale"]: row for row in figures["threshold_tradeoff"]}
    assert tradeoff[1.0]["both_reported_mix2"] == 0.5 and tradeoff[1.0]["precision_on_mixtures"] == 0.75
    assert tradeoff[0.6]["both_reported_mix2"] == 1.0 and tradeoff[0.6]["precision_on_mixtures"] == 0.8
    softmax = multilabel.evaluate(scores, labels, None, test, labels, np.zeros((1, 3)), 1.0)
    assert "threshold_tradeoff" not in softmax and softmax["both_reported_mix2"] == 0.0
