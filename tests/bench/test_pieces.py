"""The small parts: device table, metrics, timing, memory, GEMM probe, thread parsing, source resolution."""

from __future__ import annotations

import argparse
import mmap
import sys
import zipfile

import numpy as np
import pytest

from nightscan_edge.bench.devices import DEVICE_CLASSES, DeviceClass, list_device_classes
from nightscan_edge.bench.gemm_probe import measure_gemm_gflops
from nightscan_edge.bench.memory import PeakMemory, peak_memory_supported
from nightscan_edge.bench.metrics import classification_scores
from nightscan_edge.bench.sources import BenchSourceError, latest_export_dir, open_source
from nightscan_edge.bench.timing import measure_latency, measure_throughput
from nightscan_edge.commands.bench import parse_threads


def test_device_table_covers_phones_and_boards_with_citations():
    names = set(DEVICE_CLASSES.names())
    assert {"android_recent", "android_old", "iphone", "raspberry_pi_4", "raspberry_pi_5"} <= names
    for device in list_device_classes():
        assert device.sustained_gflops > 0 and device.threads >= 1
        assert device.source.startswith("https://") and device.basis
    # the arithmetic is reproducible from the cited figure: 2 x 300 M MAdds in 53 ms
    assert DEVICE_CLASSES.get("android_old").sustained_gflops == pytest.approx(2 * 300e6 / 0.053 / 1e9, abs=0.05)
    assert DEVICE_CLASSES.get("android_recent").sustained_gflops > DEVICE_CLASSES.get("android_old").sustained_gflops


def test_device_estimate_and_registry_rules():
    device = DeviceClass("x", "X", 1, 10.0, "basis", "https://example.org")
    assert device.estimate_ms(2e9) == pytest.approx(200.0)
    with pytest.raises(ValueError, match="already registered"):
        DEVICE_CLASSES.add("iphone", device)
    with pytest.raises(KeyError, match="known: android_old"):
        DEVICE_CLASSES.get("nokia_3310")


def test_classification_scores_match_hand_computation():
    labels = np.array([0, 0, 0, 1, 1, 2])
    predictions = np.array([0, 0, 1, 1, 0, 2])
    scores = classification_scores(labels, predictions, ["a", "b", "c", "absent"])
    assert scores.accuracy == pytest.approx(4 / 6)
    # a: P=2/3 R=2/3 F1=2/3; b: P=1/2 R=1/2 F1=1/2; c: 1; the class absent from the test set is left out
    assert scores.macro_f1 == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert scores.per_class_recall == pytest.approx({"a": 2 / 3, "b": 0.5, "c": 1.0})
    with pytest.raises(ValueError):
        classification_scores(np.array([]), np.array([]), ["a"])


def test_latency_counts_warmup_and_iterations():
    calls = []

    def predict(x):
        calls.append(x.shape)
        return x

    sample = measure_latency(predict, np.zeros(5, np.float32), warmup=2, iterations=7)
    assert len(calls) == 9 and calls[0] == (1, 5) and len(sample.times_ms) == 7
    assert 0 <= sample.p50_ms <= sample.p95_ms <= sample.max_ms
    calls.clear()
    assert measure_throughput(predict, np.zeros(5, np.float32), batch_size=8, iterations=3) > 0
    assert calls == [(8, 5)] * 4
    with pytest.raises(ValueError):
        measure_latency(predict, np.zeros(5), warmup=0, iterations=0)


@pytest.mark.skipif(not sys.platform.startswith("linux") or not peak_memory_supported(), reason="needs Linux /proc")
def test_peak_memory_sees_a_transient_allocation():
    # Fresh anonymous pages from the kernel: a heap allocation could reuse memory a previous test freed but the
    # process still holds resident (as in a long-lived pytest-xdist worker), which would add nothing to RSS.
    size = 48 * 1024 * 1024
    with PeakMemory() as peak:
        block = mmap.mmap(-1, size)
        block.write(b"\x01" * size)  # touched: resident
        block.close()
    assert 40 <= peak.added_mb <= 200


def test_gemm_probe_measures_a_positive_peak():
    assert measure_gemm_gflops(1, size=128, seconds=0.02) > 0.1
    with pytest.raises(ValueError):
        measure_gemm_gflops(0)


def test_parse_threads():
    assert parse_threads("1,all") == (1, 0)
    assert parse_threads("1, 4") == (1, 4)
    for bad in ("", "1,-2", "two"):
        with pytest.raises(argparse.ArgumentTypeError):
            parse_threads(bad)


def test_sources_refuse_what_cannot_be_benchmarked(tmp_path, tiny_run):
    with pytest.raises(BenchSourceError, match="has no exports; run `nightscan-edge export"):
        open_source(tiny_run)
    with pytest.raises(FileNotFoundError):
        open_source(tmp_path / "missing")
    (tmp_path / "notes.txt").write_text("hi")
    with pytest.raises(BenchSourceError, match="neither a run folder"):
        open_source(tmp_path / "notes.txt")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(BenchSourceError, match="not a valid zip"):
        open_source(tmp_path / "broken.zip")
    with zipfile.ZipFile(tmp_path / "empty.zip", "w") as archive:
        archive.writestr("README.md", "nothing here")
    with pytest.raises(BenchSourceError, match="no exported model files"):
        open_source(tmp_path / "empty.zip")


def test_latest_export_is_the_newest(tiny_run):
    import os

    for index, name in enumerate(["b_old", "a_new"]):
        folder = tiny_run / "exports" / name
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text("{}")
        os.utime(folder / "manifest.json", (1000 + index, 1000 + index))
    assert latest_export_dir(tiny_run).name == "a_new"
