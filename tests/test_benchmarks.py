"""The benchmarks a newcomer reads to reproduce a figure: small files sharing one helper module
(``benchmarks/bench_common.py``), whose results writer the docs depend on."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

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
    assert few_shot.EXTRA_KEYS == ("background_gaps", "background", "int8_check")
    assert [name for name, part in few_shot.PARTS.items() if part.alone] == ["background"]
    with pytest.raises(SystemExit) as exit_info:
        few_shot.main(["--help"])
    assert exit_info.value.code == 0


def test_command_line_is_relative_to_the_repository_whatever_the_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    command = bench_common.command_line([], script=str(BENCHMARKS / "train_throughput.py"))
    assert command == "python " + os.path.join("benchmarks", "train_throughput.py")
