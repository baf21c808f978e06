"""Archive-scale prediction on Dask: throughput with 1 and 2 workers, resume after kill -9, memory per worker.

Generates an archive of AudioMoth-named recordings in site folders (default 200 files, 50 h, 3 of them long),
then with the exported ultralight model (random weights: weights do not change the cost):

1. ``predict --engine dask`` with 1, then 2 local worker processes (1 thread, 1 runtime thread each): wall
   time, audio hours per second, the workers' CPU seconds, and the 2/1 scaling ratio;
2. the CLI run in a subprocess, killed with SIGKILL once a third of the files are done, then run again:
   files done before the kill must keep their result files (not recomputed) and the rows must equal the
   uninterrupted run's, none duplicated;
3. memory per worker: one worker's peak RSS after a short recording, then after a long one.

    python benchmarks/archive.py                                  # 200 files, 50 h (~3 min CPU per pass)
    python benchmarks/archive.py --files 60 --hours 10 --long-hours 1 --out benchmarks/results/archive.json

Disk stays small: the archive is hard links to two generated recordings (one long, one short), so the
files are read from the page cache; a real archive also pays for disk reads.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from long_recording import export_random_ultralight, write_recording
from nightscan_edge.artifact import read_manifest
from nightscan_edge.predict.archive import ArchiveOptions, OutputFolder, connect, run_archive
from nightscan_edge.predict.output import csv_rows


def build_archive(
    root: Path, sources: Path, files: int, hours: float, long_files: int, long_hours: float, sample_rate: int
) -> dict:
    """``files`` recordings in 4 site folders: ``long_files`` of ``long_hours``, the rest share the remaining hours."""
    short_minutes = max(1, round((hours - long_files * long_hours) * 60 / max(1, files - long_files)))
    long_source = write_recording(sources / "long.wav", long_hours * 60, sample_rate)
    short_source = write_recording(sources / "short.wav", short_minutes, sample_rate)
    start = datetime(2024, 6, 1, 20, 0)
    for index in range(files):
        source, minutes = (long_source, long_hours * 60) if index < long_files else (short_source, short_minutes)
        site = root / f"site{index % 4 + 1:02d}"
        site.mkdir(parents=True, exist_ok=True)
        when = start + timedelta(minutes=(index // 4) * 15)
        os.link(source, site / f"{when:%Y%m%d_%H%M%S}.WAV")
    total_hours = (long_files * long_hours * 60 + (files - long_files) * short_minutes) / 60
    return {
        "files": files,
        "audio_hours": round(total_hours, 3),
        "long_files": long_files,
        "long_hours": long_hours,
        "short_minutes": short_minutes,
        "sample_rate": sample_rate,
        "disk_mb": round((long_source.stat().st_size + short_source.stat().st_size) / 1e6, 1),
    }


def worker_cpu_seconds(client) -> float:
    return sum(client.run(time.process_time).values())


def worker_peak_rss_mb(client) -> dict[str, float]:
    return {
        address: rss / 1024
        for address, rss in client.run(lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss).items()
    }


def rows_of(out: Path) -> list[tuple]:
    return [tuple(row.values()) for prediction in OutputFolder(out).predictions() for row in csv_rows([prediction])]


def timed_run(artifact: Path, archive: Path, out: Path, workers: int, span_minutes: float) -> dict:
    options = ArchiveOptions(artifact, [archive], out, workers=workers, span_minutes=span_minutes, progress=False)
    started = time.perf_counter()
    client, cluster = connect(options)
    startup_s = time.perf_counter() - started
    try:
        client.wait_for_workers(workers)
        cpu_before = worker_cpu_seconds(client)
        report = run_archive(options, client=client)
        cpu_s = worker_cpu_seconds(client) - cpu_before
    finally:
        client.close()
        cluster.close()
    if report.errors:
        raise SystemExit(f"{report.errors} files failed: {report.error_messages[:3]}")
    return {
        "workers": workers,
        "files": report.processed,
        "audio_hours": round(report.audio_hours, 3),
        "cluster_start_s": round(startup_s, 2),
        "wall_s": round(report.wall_seconds, 2),
        "audio_hours_per_s": round(report.audio_hours_per_second, 4),
        "x_real_time_wall": round(report.audio_hours_per_second * 3600),
        "worker_cpu_s": round(cpu_s, 2),
        "x_real_time_per_cpu_s": round(report.audio_hours * 3600 / cpu_s),
    }


def resume_after_kill(
    artifact: Path,
    archive: Path,
    out: Path,
    reference: Path,
    workers: int,
    span_minutes: float,
    files: int,
    timeout_s: float,
) -> dict:
    """The CLI killed with SIGKILL mid-run, then rerun: nothing done before is recomputed or duplicated."""
    import psutil

    command = [
        sys.executable,
        "-m",
        "nightscan_edge.cli",
        "predict",
        str(artifact),
        str(archive),
        "--engine",
        "dask",
        "--workers",
        str(workers),
        "--span-minutes",
        str(span_minutes),
        "--out",
        str(out),
        "--no-progress",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = out / "detections"
    deadline = time.monotonic() + timeout_s
    while len(list(results.rglob("*.parquet")) if results.exists() else []) < files // 3:
        if process.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the run ended or timed out before a third of the files were done")
        time.sleep(0.2)
    children = psutil.Process(process.pid).children(recursive=True)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    done_at_kill = {p: p.stat().st_mtime_ns for p in results.rglob("*.parquet")}
    time.sleep(3)  # the orphaned local workers notice the scheduler is gone
    for child in children:  # the killed client's worker processes, by pid
        if child.is_running():
            child.kill()
    done_after_orphans = {p: p.stat().st_mtime_ns for p in results.rglob("*.parquet")}
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s)
    if rerun.returncode != 0:
        raise SystemExit(f"rerun failed: {rerun.stderr[-2000:]}")
    kept = sum(1 for p, mtime in done_after_orphans.items() if p.exists() and p.stat().st_mtime_ns == mtime)
    rows, expected = rows_of(out), rows_of(reference)
    duplicates = sum(n - 1 for n in Counter(rows).values() if n > 1)
    return {
        "files_done_at_kill": len(done_at_kill),
        "files_done_before_rerun": len(done_after_orphans),
        "of_those_recomputed_by_rerun": len(done_after_orphans) - kept,
        "rerun_summary": rerun.stderr.strip().splitlines()[-2] if rerun.stderr.strip() else "",
        "rows": len(rows),
        "rows_uninterrupted_run": len(expected),
        "duplicated_rows": duplicates,
        "rows_equal_uninterrupted_run": sorted(rows) == sorted(expected),
    }


def memory_per_worker(artifact: Path, sources: Path, out: Path, span_minutes: float) -> dict:
    """One worker: peak RSS after a short recording, then after the long one (spans keep it flat)."""
    from distributed import Client, LocalCluster

    short, long = sources / "short.wav", sources / "long.wav"
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        ) as cluster,
        Client(cluster) as client,
    ):
        figures = {}
        for name, path in (("short", short), ("long", long)):
            run_archive(
                ArchiveOptions(artifact, [path], out / name, span_minutes=span_minutes, progress=False), client=client
            )
            figures[f"peak_rss_after_{name}_mb"] = round(next(iter(worker_peak_rss_mb(client).values())), 1)
    import soundfile

    figures["short_minutes"] = round(soundfile.info(str(short)).duration / 60, 1)
    figures["long_minutes"] = round(soundfile.info(str(long)).duration / 60, 1)
    figures["growth_mb"] = round(figures["peak_rss_after_long_mb"] - figures["peak_rss_after_short_mb"], 1)
    return figures


def results_document(
    command: str, spec: dict, archive: dict, span_minutes: float, runs: list[dict], resume: dict, memory: dict
) -> dict:
    """The measurement in the shape of ``benchmarks/results/*.json`` (rendered into docs/archive.md)."""
    scaling_wall = runs[1]["audio_hours_per_s"] / runs[0]["audio_hours_per_s"]
    scaling_cpu = runs[1]["x_real_time_per_cpu_s"] / runs[0]["x_real_time_per_cpu_s"]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return {
        "title": "Archive prediction on Dask: throughput, resume after kill -9, memory per worker",
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores; load average at the end "
        f"{load} (other jobs share the cores: CPU seconds are the fair figure)",
        "command": command,
        "setup": f"ultralight_audio, random weights (weights do not change the cost), FP32 ONNX, "
        f"{spec['sample_rate']} Hz spec; {archive['files']} AudioMoth-named files in 4 site folders = "
        f"{archive['long_files']} x {archive['long_hours']:g} h + {archive['files'] - archive['long_files']} x "
        f"{archive['short_minutes']} min = {archive['audio_hours']:.1f} h (hard links to 2 generated recordings, "
        f"{archive['disk_mb']:.0f} MB on disk, read from the page cache); spans of {span_minutes:g} min; local "
        "workers with 1 thread and 1 runtime thread each; wall time from the cluster being up to the last file "
        "written.",
        "figures": [
            {
                "workers": run["workers"],
                "files": run["files"],
                "audio h": run["audio_hours"],
                "wall s": run["wall_s"],
                "audio h/s (wall)": run["audio_hours_per_s"],
                "x real time (wall)": f"{run['x_real_time_wall']}x",
                "workers' CPU s": run["worker_cpu_s"],
                "x real time per CPU s": f"{run['x_real_time_per_cpu_s']}x",
            }
            for run in runs
        ],
        "notes": [
            f"Scaling 1 -> 2 workers: {scaling_wall:.2f}x by wall time, {scaling_cpu:.2f}x in audio per CPU second.",
            f"Resume after kill -9 of the client (2 workers): {resume['files_done_at_kill']} files were done at the "
            f"kill; the rerun recomputed {resume['of_those_recomputed_by_rerun']} of them; rows "
            f"{'equal' if resume['rows_equal_uninterrupted_run'] else 'DIFFER from'} the uninterrupted run's, "
            f"{resume['duplicated_rows']} duplicated. Rerun: {resume['rerun_summary'].split('; results in')[0]}.",
            f"Memory per worker: peak RSS {memory['peak_rss_after_short_mb']:.0f} MB after a "
            f"{memory['short_minutes']:g}-minute file, {memory['peak_rss_after_long_mb']:.0f} MB after a "
            f"{memory['long_minutes']:g}-minute file ({memory['growth_mb']:+.1f} MB).",
        ],
        "spec": spec,
        "archive": archive,
        "span_minutes": span_minutes,
        "runs": runs,
        "resume_after_kill": resume,
        "memory_per_worker": memory,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--hours", type=float, default=50.0)
    parser.add_argument("--long-files", type=int, default=3)
    parser.add_argument("--long-hours", type=float, default=4.0)
    parser.add_argument("--span-minutes", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds allowed for each CLI run (resume test)")
    parser.add_argument("--out", help="write the results as JSON here (e.g. benchmarks/results/archive.json)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="nightscan-archive-bench-") as folder:
        folder = Path(folder)
        (folder / "sources").mkdir()
        artifact = export_random_ultralight(folder)
        spec = read_manifest(artifact)["input"]["spec"]
        archive = build_archive(
            folder / "archive",
            folder / "sources",
            args.files,
            args.hours,
            args.long_files,
            args.long_hours,
            spec["sample_rate"],
        )
        print(f"archive: {archive}", flush=True)
        runs = []
        for workers in (1, 2):
            runs.append(timed_run(artifact, folder / "archive", folder / f"out{workers}", workers, args.span_minutes))
            print(f"{workers} worker(s): {runs[-1]}", flush=True)
        scaling = runs[1]["audio_hours_per_s"] / runs[0]["audio_hours_per_s"]
        print(f"scaling 2/1 workers (wall): {scaling:.2f}x", flush=True)
        resume = resume_after_kill(
            artifact,
            folder / "archive",
            folder / "out-killed",
            folder / "out2",
            2,
            args.span_minutes,
            args.files,
            args.timeout,
        )
        print(f"resume after kill -9: {resume}", flush=True)
        memory = memory_per_worker(artifact, folder / "sources", folder / "out-memory", args.span_minutes)
        print(f"memory per worker: {memory}", flush=True)
    command = "python benchmarks/archive.py " + " ".join(argv if argv is not None else sys.argv[1:])
    result = results_document(command, spec, archive, args.span_minutes, runs, resume, memory)
    if args.out:
        from nightscan_edge.atomic import write_json_atomic

        write_json_atomic(args.out, result)
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
