"""The Dask archive engine (``predict --engine dask``) on a LocalCluster: same rows as ``predict``, resumable."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import soundfile

pytest.importorskip("distributed", reason="archive extra (dask[distributed]) not installed")
pytest.importorskip("pyarrow", reason="archive extra (pyarrow) not installed")

from nightscan_edge.predict import EdgePredictor  # noqa: E402
from nightscan_edge.predict.archive import (  # noqa: E402
    ArchiveError,
    ArchiveOptions,
    OutputFolder,
    plan_file,
    plan_spans,
    run_archive,
    write_summaries,
)
from nightscan_edge.predict.archive.errors import require_archive_extra  # noqa: E402
from nightscan_edge.predict.archive.recording_time import (  # noqa: E402
    night_of,
    recording_time,
    site_of,
    time_from_name,
)
from nightscan_edge.predict.output import csv_rows  # noqa: E402
from tests.predict.conftest import TINY_AUDIO_SPEC, export_tiny_onnx  # noqa: E402

RATE = TINY_AUDIO_SPEC.sample_rate


def write_tones(path: Path, seconds: float, rate: int = RATE, seed: int = 0) -> Path:
    """Tone bursts at a few pitches over noise, so windows get different labels."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    pitch = 400 + 300 * np.floor(t / 3.7 % 4)
    samples = 0.3 * np.sin(2 * np.pi * pitch * t) * (np.sin(2 * np.pi * 0.2 * t) > 0) + 0.05 * rng.standard_normal(
        t.size
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    soundfile.write(str(path), samples.astype(np.float32), rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> Path:
    """Two sites, AudioMoth and Song Meter names, one file split into spans, and the bad inputs of issue 20."""
    root = tmp_path_factory.mktemp("archive")
    write_tones(root / "north" / "20240601_221500.WAV", 12, seed=1)
    write_tones(root / "north" / "20240602_013000.WAV", 95, seed=2)  # spans of 20 s
    write_tones(root / "SMA01234_20240601_230000.wav", 8, rate=11025, seed=3)  # resampled
    write_tones(root / "south" / "clip.wav", 0.4, seed=4)  # shorter than a window: no name time -> mtime
    (root / "south" / "empty.wav").write_bytes(b"")
    (root / "south" / "notes.wav").write_text("not audio")
    whole = write_tones(root / "south" / "20240601_235900.wav", 10, seed=5).read_bytes()
    (root / "south" / "20240601_235900.wav").write_bytes(whole[: len(whole) // 2])  # header promises 10 s: truncated
    return root


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as dask_client,
    ):
        yield dask_client


def local_rows(artifact: Path, root: Path, **kwargs) -> list[dict]:
    """Today's ``predict`` rows, with paths relative to the archive root as the archive engine writes them."""
    from nightscan_edge.predict.inputs import expand_paths

    predictor = EdgePredictor(artifact, threads=1, **kwargs)
    rows = []
    for path in expand_paths([root], "audio"):
        result = predictor.predict_file(path)
        result.file = str(path.relative_to(root))
        rows.extend(csv_rows([result]))
    return rows


def archive_rows(out: Path) -> list[dict]:
    return [row for prediction in OutputFolder(out).predictions() for row in csv_rows([prediction])]


def options(artifact: Path, root: Path, out: Path, **kwargs) -> ArchiveOptions:
    return ArchiveOptions(artifact=artifact, paths=[root], out=out, span_minutes=20 / 60, progress=False, **kwargs)


# -- no cluster ------------------------------------------------------------------------------------------------
def test_recording_time_and_site_rules(tmp_path) -> None:
    moth = recording_time(Path("20240601_221500.WAV"), None, 60.0)
    assert (moth.start, moth.source) == (datetime(2024, 6, 1, 22, 15), "audiomoth_name")
    meter = recording_time(Path("SMA01234_20240601_230000_0+1.wav"), None, 60.0)
    assert (meter.start, meter.source, meter.prefix) == (datetime(2024, 6, 1, 23), "songmeter_name", "SMA01234")
    fallback = recording_time(Path("take_99999999_999999.wav"), 1717286400.0, 3600.0)  # not a date: mtime - duration
    assert (fallback.start, fallback.source) == (datetime(2024, 6, 1, 23), "mtime")
    assert site_of(tmp_path / "north" / "a" / "x.wav", tmp_path) == "north"
    assert site_of(tmp_path / "SMA01234_20240601_230000.wav", tmp_path) == "SMA01234"
    assert site_of(tmp_path / "x.wav", tmp_path) == "unsorted"
    assert night_of(datetime(2024, 6, 2, 3, 0)).isoformat() == "2024-06-01"  # before noon: the previous evening


@pytest.mark.parametrize(
    ("name", "start", "prefix"),
    [
        ("S4A03895_20190522_060000.wav", datetime(2019, 5, 22, 6, 0), "S4A03895"),  # SM4 (the shared site files)
        ("SMM07257_20230301_235500.wav", datetime(2023, 3, 1, 23, 55), "SMM07257"),  # Song Meter Mini
        ("SMU01234_20230302_001000_000.WAV", datetime(2023, 3, 2, 0, 10), "SMU01234"),  # a suffix after the time
        ("north-ridge_SMM07257_20230302_031500.wav", datetime(2023, 3, 2, 3, 15), "north-ridge_SMM07257"),  # renamed
    ],
)
def test_song_meter_names_give_the_recorders_time(name, start, prefix) -> None:
    found = recording_time(Path(name), 0.0, 10.0)
    assert (found.start, found.source, found.prefix) == (start, "songmeter_name", prefix)


def test_real_song_meter_files_are_planned_by_their_names(site_ambient) -> None:
    """The shared site's 56 SM4 files: one every 15 min from 06:00 to 19:45 on 2019-05-22, site = the serial."""
    paths = sorted(site_ambient.glob("*.wav"))
    plans = [plan_file(path, site_ambient, TINY_AUDIO_SPEC, None, 20.0) for path in paths]
    assert len(plans) == 56 and {p.time_source for p in plans} == {"songmeter_name"}
    assert {p.site for p in plans} == {"S4A03895"} and {p.date for p in plans} == {"2019-05-22"}
    assert [p.start for p in plans] == [datetime(2019, 5, 22, 6) + timedelta(minutes=15 * i) for i in range(56)]
    assert all(p.duration_s == pytest.approx(10.0) for p in plans)


@pytest.mark.parametrize("source_rate", [RATE, 11025])
def test_spans_give_the_whole_files_windows(tiny_audio_onnx, tmp_path, source_rate) -> None:
    """Spans of whole windows, scored apart and merged, equal the one-process prediction (1e-5)."""
    path = write_tones(tmp_path / "long.wav", 75.3, rate=source_rate)
    predictor = EdgePredictor(tiny_audio_onnx, threads=1)
    plan = plan_file(path, tmp_path, TINY_AUDIO_SPEC, None, 20.0)
    assert len(plan.spans) >= 3 and plan.spans[-1][1] is None
    whole, whole_scores = predictor.score_audio_file(path)
    parts = [predictor.score_audio_file(path, span)[1] for span in plan.spans]
    merged = [score for part in parts for score in part]
    assert [s.start_s for s in merged] == [s.start_s for s in whole_scores]
    difference = np.abs(np.stack([s.probabilities for s in merged]) - np.stack([s.probabilities for s in whole_scores]))
    assert difference.max() < 1e-5


def test_plan_spans_end_is_never_short() -> None:
    clip = TINY_AUDIO_SPEC.clip_samples
    for total in range(clip, 200 * RATE, 7919):
        spans = plan_spans(total, TINY_AUDIO_SPEC, None, 20.0, RATE)
        assert spans[-1][1] is None and total - spans[-1][0] >= clip
        assert all(b[0] - a[0] == spans[1][0] - spans[0][0] for a, b in zip(spans, spans[1:], strict=False))


def test_missing_extra_names_the_install_command(monkeypatch) -> None:
    import importlib

    real = importlib.import_module

    def fake(name, *args):
        if name == "distributed":
            raise ImportError("No module named 'distributed'")
        return real(name, *args)

    monkeypatch.setattr(importlib, "import_module", fake)
    with pytest.raises(ArchiveError, match=r'pip install "nightscan-edge\[archive\]"'):
        require_archive_extra()


def test_silent_scheduler_is_a_clear_error_within_the_timeout(tiny_audio_onnx, archive, tmp_path) -> None:
    with socket.socket() as sock:  # a port nobody answers on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(ArchiveError, match=f"no Dask scheduler answered at tcp://127.0.0.1:{port} within 2 s"):
        run_archive(
            options(
                tiny_audio_onnx, archive, tmp_path / "out", scheduler=f"tcp://127.0.0.1:{port}", scheduler_timeout_s=2
            )
        )
    assert time.monotonic() - started < 15


# -- on a LocalCluster -----------------------------------------------------------------------------------------
def test_archive_rows_equal_predict_and_rerun_resumes(tiny_audio_onnx, archive, tmp_path, client) -> None:
    out = tmp_path / "out"
    report = run_archive(options(tiny_audio_onnx, archive, out), client=client)
    assert (report.files, report.processed, report.skipped, report.errors) == (7, 7, 0, 3)
    assert report.audio_hours == pytest.approx(
        (12 + 95 + 8 + 0.4 + 5) / 3600, rel=0.02
    )  # the truncated file: 5 s present
    assert archive_rows(out) == sorted(local_rows(tiny_audio_onnx, archive), key=lambda r: r["file"])
    files = {p.relative_to(out / "detections").parts[:2] for p in (out / "detections").rglob("*.parquet")}
    assert ("site=north", "date=2024-06-02") in files and ("site=SMA01234", "date=2024-06-01") in files
    errors = {row["file"]: row["error"] for row in archive_rows(out) if row["error"]}
    assert "empty (0 bytes)" in errors["south/empty.wav"] and "truncated WAV" in errors["south/20240601_235900.wav"]

    written = {p: p.stat().st_mtime_ns for p in (out / "detections").rglob("*.parquet")}
    again = run_archive(options(tiny_audio_onnx, archive, out), client=client)
    assert (again.skipped, again.processed) == (7, 0)
    changed = archive / "north" / "20240601_221500.WAV"
    os.utime(changed, ns=(time.time_ns(), time.time_ns()))  # same name, new mtime: predicted again
    third = run_archive(options(tiny_audio_onnx, archive, out), client=client)
    assert (third.skipped, third.processed) == (6, 1)
    assert {p: p.stat().st_mtime_ns for p in written if "20240601_221500" not in p.name} == {
        p: t for p, t in written.items() if "20240601_221500" not in p.name
    }
    assert archive_rows(out) == sorted(local_rows(tiny_audio_onnx, archive), key=lambda r: r["file"])  # no duplicates

    summaries = write_summaries(OutputFolder(out), ["owl", "fox", "bat"])
    hourly = (out / "summary" / "detections_per_hour.csv").read_text().splitlines()
    assert hourly[0] == "site,night,hour,label,detections"
    assert any(line.startswith("north,2024-06-01,01:00,") for line in hourly)  # 01:30 belongs to the night of June 1
    assert {p.name for p in summaries} >= {"activity_north.png", "activity_SMA01234.png"}


def detection_times(out: Path) -> list[dict]:
    columns = ["path", "start_s", "recording_start", "time_source", "detection_start", "site", "date"]
    return OutputFolder(out).table(columns).to_pylist()


def assert_detections_timed_by_name(rows: list[dict], site: str) -> None:
    assert rows and {row["time_source"] for row in rows} == {"songmeter_name"} and {r["site"] for r in rows} == {site}
    for row in rows:
        named = time_from_name(Path(row["path"]).stem)
        assert named is not None and row["recording_start"] == named.start
        assert row["detection_start"] == named.start + timedelta(seconds=row["start_s"])
        assert row["date"] == named.start.date().isoformat()


def test_song_meter_archive_detections_carry_the_named_time(tiny_audio_onnx, tmp_path, client) -> None:
    """Generated files with Song Meter Mini names over midnight: each detection's start = the name's time + its
    offset; partitioned by the recorder's serial and calendar date; the hourly summary counts both in one night."""
    root = tmp_path / "archive"
    write_tones(root / "SMM07257_20230301_235500.wav", 9, rate=22050, seed=6)
    write_tones(root / "SMM07257_20230302_001000.wav", 9, rate=22050, seed=7)
    out = tmp_path / "out"
    report = run_archive(options(tiny_audio_onnx, root, out), client=client)
    assert (report.processed, report.errors) == (2, 0)
    rows = detection_times(out)
    assert_detections_timed_by_name(rows, "SMM07257")
    assert {row["date"] for row in rows} == {"2023-03-01", "2023-03-02"}
    write_summaries(OutputFolder(out), ["owl", "fox", "bat"])
    hourly = (out / "summary" / "detections_per_hour.csv").read_text().splitlines()[1:]
    assert {line.split(",")[1] for line in hourly} == {"2023-03-01"}  # 23:55 and 00:10 are one night
    assert {line.split(",")[2] for line in hourly} == {"23:00", "00:00"}


def test_real_song_meter_recordings_through_the_archive(tiny_audio_onnx, site_ambient, tmp_path, client) -> None:
    """Three of the shared SM4 recordings (22 kHz, resampled for the model): the same rows as ``predict``, each
    detection timed from the file name."""
    root = tmp_path / "site"
    root.mkdir()
    for path in sorted(site_ambient.glob("*.wav"))[::20]:
        (root / path.name).symlink_to(path)
    out = tmp_path / "out"
    report = run_archive(options(tiny_audio_onnx, root, out), client=client)
    assert (report.processed, report.errors) == (3, 0)
    assert archive_rows(out) == sorted(local_rows(tiny_audio_onnx, root), key=lambda r: r["file"])
    assert_detections_timed_by_name(detection_times(out), "S4A03895")


def test_running_scheduler_address_is_used(tiny_audio_onnx, tmp_path, client) -> None:
    """``--scheduler ADDRESS``: the run connects to it (and leaves it running) instead of starting workers."""
    root = tmp_path / "archive"
    write_tones(root / "a.wav", 3)
    report = run_archive(options(tiny_audio_onnx, root, tmp_path / "out", scheduler=client.scheduler.address))
    assert (report.processed, report.errors, report.workers) == (1, 0, 2)
    assert client.submit(sum, [1, 2]).result() == 3  # the scheduler still serves


def test_other_artifact_folder_is_refused_unless_overwrite(tiny_audio_run, archive, tmp_path, client) -> None:
    first = export_tiny_onnx(tiny_audio_run, tmp_path / "a")
    time.sleep(1.1)  # the manifest's creation time (seconds) makes the second export another artifact
    second = export_tiny_onnx(tiny_audio_run, tmp_path / "b")
    one_file = archive / "north" / "20240601_221500.WAV"
    out = tmp_path / "out"
    run_archive(ArchiveOptions(first, [one_file], out, progress=False), client=client)
    with pytest.raises(ArchiveError, match="holds results of another artifact.*--overwrite"):
        run_archive(ArchiveOptions(second, [one_file], out, progress=False), client=client)
    report = run_archive(ArchiveOptions(second, [one_file], out, progress=False, overwrite=True), client=client)
    assert report.processed == 1 and len(list((out / "detections").rglob("*.parquet"))) == 1


def test_file_disappearing_mid_run_and_odd_names(tiny_audio_onnx, tmp_path, client) -> None:
    root = tmp_path / "archive"
    write_tones(root / "a.wav", 3)
    gone = write_tones(root / "b.wav", 3)
    odd = Path(os.fsdecode(bytes(root) + b"/odd \xff name.wav"))  # not UTF-8: written as \xff in the results
    write_tones(root / "odd.wav", 3).rename(odd)
    report = run_archive(
        options(tiny_audio_onnx, root, tmp_path / "out"), client=client, on_planned=lambda plans: gone.unlink()
    )
    assert report.processed == 3 and report.errors >= 1  # whether libsndfile opens the odd name is not ours to test
    rows = archive_rows(tmp_path / "out")
    assert [row["error"] for row in rows if row["file"] == "b.wav"] == [f"{gone} does not exist"]
    assert any(row["file"] == "odd \\xff name.wav" for row in rows)
    with pytest.raises(ArchiveError, match="not found; pass the archive folder"):
        run_archive(options(tiny_audio_onnx, tmp_path / "nowhere", tmp_path / "out2"), client=client)


def test_cli_refuses_archive_options_without_the_dask_engine(tiny_audio_onnx, archive, capsys) -> None:
    from nightscan_edge.cli import main

    assert main(["predict", str(tiny_audio_onnx), str(archive), "--workers", "2"]) == 2
    assert "--engine dask" in capsys.readouterr().err
    assert main(["predict", str(tiny_audio_onnx), str(archive), "--engine", "dask"]) == 2
    assert "--out FOLDER" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_archive_run_writes_parquet_summaries_csv_and_raven(tiny_audio_onnx, archive, tmp_path, capsys) -> None:
    from nightscan_edge.cli import main

    out, raven = tmp_path / "out", tmp_path / "selections.txt"
    command = ["predict", str(tiny_audio_onnx), str(archive), "--engine", "dask", "--workers", "1", "--out", str(out)]
    code = main([*command, "--span-minutes", "0.34", "--csv", "--raven", str(raven), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "7 files: 7 predicted (3 with errors), 0 already done" in err and "recording times: " in err
    csv_text = (out / "detections.csv").read_text()
    assert csv_text.startswith("file,start_s,end_s,label,confidence,source,top_k,fallback_failed,error")
    expected = sorted(local_rows(tiny_audio_onnx, archive), key=lambda r: r["file"])
    assert len(csv_text.strip().splitlines()) == len(expected) + 1
    assert raven.read_text().startswith("Selection\tView") and (out / "summary" / "activity_north.png").exists()
    assert main([*command, "--no-progress"]) == 0
    assert "0 predicted (0 with errors), 7 already done" in capsys.readouterr().err


@pytest.mark.slow
def test_worker_killed_mid_task_is_retried_without_duplicate_rows(tiny_audio_onnx, tmp_path, client) -> None:
    import signal
    import threading

    root = tmp_path / "archive"
    write_tones(root / "long.wav", 30 * 60)
    write_tones(root / "short.wav", 20)
    out = tmp_path / "out"
    pids = client.run(os.getpid)
    killed: list[str] = []

    def kill_a_busy_worker() -> None:
        deadline = time.monotonic() + 60
        while not killed and time.monotonic() < deadline:
            for address, keys in client.processing().items():
                if any(str(key).startswith("nightscan-span") for key in keys):
                    os.kill(pids[address], signal.SIGKILL)
                    killed.append(address)
                    break
            time.sleep(0.01)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    report = run_archive(ArchiveOptions(tiny_audio_onnx, [root], out, span_minutes=3, progress=False), client=client)
    killer.join()
    assert killed, "no task was seen running"
    assert (report.processed, report.errors) == (2, 0)
    assert archive_rows(out) == sorted(local_rows(tiny_audio_onnx, root), key=lambda r: r["file"])
    client.wait_for_workers(2, timeout=60)  # the nanny restarted the killed worker
