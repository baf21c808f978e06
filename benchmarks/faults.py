"""Fault injection for training: kill -9 of the trainer at random moments, then ``train --resume`` until the
run finishes; plus the one-writer rule tested with real processes.

For each of N runs (a tiny generated audio set, a tiny network, E epochs, early stopping off):

1. ``nightscan-edge train`` starts; at a random moment (uniform over the expected run time) it gets SIGKILL;
   then ``train --resume`` is started again, and each resume is itself killed with probability P at a random
   moment, until one finishes (at most K attempts);
2. the finished run folder is checked: ``status.json`` says done and ``report.json`` exists (run completed);
   ``metrics.csv`` holds each epoch 1..E exactly once (epochs lost = missing epochs, duplicated rows = extra
   rows); every ``events.jsonl`` line is strict JSON (no NaN/Infinity); the per-epoch figures equal those of
   one uninterrupted reference run (exact resume).

Then two real-process lock checks: two identical starts at the same moment on one ``--run-dir`` (exactly one
trains, the other is refused naming the holder's PID), and ``--resume`` while the run trains (refused, the
run continues and finishes with each epoch once).

Then ``--server-rounds`` rounds of faults of the web server (``benchmarks/faults_server.py``): kill -9 of
``nightscan-edge serve`` during training, during an upload and during review, and a restart on the same data dir.

    python benchmarks/faults.py --runs 3 --server-rounds 2 --out benchmarks/results/faults.json
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from faults_server import server_rounds
from nightscan_edge.data import write_synthetic_dataset

TINY = [
    "--set", "model.audio={clip_samples: 4096, n_fft: 256, hop_length: 128, n_mels: 16}",
    "--set", 'model.options={"stem_channels": 8, "blocks": [[16, 2], [24, 2]], "dropout": 0.1}',
    "--set", "train.early_stopping_patience=null",
    "--set", "train.min_steps_per_epoch=0",
    "--set", "train.batch_size=8",
]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def train_argv(data: Path, run: Path, epochs: int) -> list[str]:
    return [sys.executable, "-m", "nightscan_edge.cli", "train", "--data", str(data), "--model", "ultralight_audio",
            "--run-dir", str(run), "--epochs", str(epochs), "--no-progress", *TINY]  # fmt: skip


def resume_argv(run: Path) -> list[str]:
    return [sys.executable, "-m", "nightscan_edge.cli", "train", "--resume", str(run), "--no-progress"]


def run_to_end(argv: list[str], log: Path) -> tuple[int, float]:
    started = time.perf_counter()
    with log.open("ab") as sink:
        code = subprocess.run(argv, stdout=sink, stderr=subprocess.STDOUT, env=_env()).returncode
    return code, time.perf_counter() - started


def run_and_kill(argv: list[str], log: Path, after_s: float) -> bool:
    """Start ``argv``; SIGKILL it after ``after_s`` seconds. True when it was killed (False: it ended first)."""
    with log.open("ab") as sink:
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, env=_env())
        try:
            process.wait(timeout=after_s)
            return False
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            return True


def metric_rows(run: Path) -> list[dict[str, str]]:
    path = run / "metrics.csv"
    if not path.is_file():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def strict_json_lines(path: Path) -> int:
    """Lines of ``events.jsonl`` that are not strict JSON (NaN/Infinity tokens or broken lines)."""

    def refuse(token: str) -> None:
        raise ValueError(token)

    bad = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            json.loads(line, parse_constant=refuse)
        except ValueError:
            bad += 1
    return bad


def per_epoch(rows: list[dict[str, str]]) -> dict[int, tuple[float, float]]:
    return {int(r["epoch"]): (round(float(r["train_loss"]), 6), round(float(r["val_acc"]), 6)) for r in rows}


def check_run(run: Path, epochs: int, reference: dict[int, tuple[float, float]] | None) -> dict:
    status = json.loads((run / "status.json").read_text()) if (run / "status.json").is_file() else {}
    rows = metric_rows(run)
    seen = [int(r["epoch"]) for r in rows]
    figures = per_epoch(rows)
    return {
        "completed": status.get("status") == "done" and (run / "report.json").is_file(),
        "epochs_lost": len(set(range(1, epochs + 1)) - set(seen)),
        "duplicated_rows": len(seen) - len(set(seen)),
        "non_json_event_lines": strict_json_lines(run / "events.jsonl") if (run / "events.jsonl").is_file() else 0,
        "same_as_uninterrupted": reference is not None and figures == reference,
    }


def lock_checks(data: Path, root: Path, epochs: int) -> dict:
    """Two identical starts at once, then a resume while the run trains: one writer each time."""
    twin = root / "twin"
    logs = [root / "twin-a.log", root / "twin-b.log"]
    processes = []
    for log in logs:
        with log.open("wb") as sink:
            processes.append(subprocess.Popen(train_argv(data, twin, epochs), stdout=sink,
                                              stderr=subprocess.STDOUT, env=_env()))  # fmt: skip
    codes = [p.wait() for p in processes]
    refused = [log.read_text(errors="replace") for log, code in zip(logs, codes, strict=True) if code == 2]
    twin_rows = [int(r["epoch"]) for r in metric_rows(twin)]

    # a long run (many epochs) so that the resume's start-up ends while it still trains; then SIGTERM it
    busy = root / "busy"
    log = root / "busy.log"
    with log.open("wb") as sink:
        trainer = subprocess.Popen(
            train_argv(data, busy, epochs * 20), stdout=sink, stderr=subprocess.STDOUT, env=_env()
        )
    while not (busy / "events.jsonl").is_file() and trainer.poll() is None:
        time.sleep(0.2)
    resume = subprocess.run(resume_argv(busy), capture_output=True, text=True, env=_env())
    still_training = trainer.poll() is None
    trainer.send_signal(signal.SIGTERM)
    trainer.wait()
    busy_rows = [int(r["epoch"]) for r in metric_rows(busy)]
    return {
        "twin starts: exit codes": sorted(codes),
        "twin start refused with": _last_error(refused[0]) if refused else "",
        "twin run: each epoch once": twin_rows == list(range(1, epochs + 1)),
        "resume while training: exit code": resume.returncode,
        "resume while training: refused with": _last_error(resume.stderr),
        "trainer was still training": still_training,
        "busy run after SIGTERM: each epoch once": len(busy_rows) == len(set(busy_rows)),
    }


def _last_error(text: str) -> str:
    lines = [line for line in text.splitlines() if line.startswith("error:")]
    return lines[-1][:200] if lines else ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="killed-and-resumed runs (default 3)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--resume-kill-probability", type=float, default=0.5)
    parser.add_argument("--max-attempts", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--server-rounds", type=int, default=2, help="kill -9 rounds of the web server (0: none)")
    parser.add_argument("--out", type=Path, default=None, help="write the results JSON here")
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="nightscan-faults-"))
    data = write_synthetic_dataset(root / "data", per_class=6, seed=1)

    code, reference_s = run_to_end(train_argv(data, root / "reference", args.epochs), root / "reference.log")
    if code != 0:
        print((root / "reference.log").read_text()[-2000:], file=sys.stderr)
        return 1
    reference = per_epoch(metric_rows(root / "reference"))
    print(f"reference run: {reference_s:.1f} s for {args.epochs} epochs")

    rows = []
    for index in range(args.runs):
        run, log = root / f"run-{index}", root / f"run-{index}.log"
        kills, attempts, starts = 0, 0, 1
        kills += run_and_kill(train_argv(data, run, args.epochs), log, rng.uniform(0.2, 1.0) * reference_s)
        while attempts < args.max_attempts:
            attempts += 1
            status = json.loads((run / "status.json").read_text()).get("status") if (run / "status.json").is_file() \
                else None  # fmt: skip
            if status == "done":
                break
            if not (run / "last.ckpt").is_file():  # killed before the first checkpoint: start over
                for path in sorted(run.glob("*")) if run.is_dir() else []:
                    path.unlink()
                command = train_argv(data, run, args.epochs)
            else:
                command = resume_argv(run)
            starts += 1
            if rng.random() < args.resume_kill_probability and attempts < args.max_attempts:
                kills += run_and_kill(command, log, rng.uniform(0.2, 1.0) * reference_s)
            else:
                run_to_end(command, log)
        row = {"run": index + 1, "kills": kills, "starts": starts, **check_run(run, args.epochs, reference)}
        print(row)
        rows.append(row)

    locks = lock_checks(data, root, args.epochs)
    print(locks)
    server = server_rounds(root, args.server_rounds, TINY[1::2], args.seed)
    summary = {
        "runs completed": f"{sum(r['completed'] for r in rows)}/{len(rows)}",
        "kill -9": sum(r["kills"] for r in rows),
        "epochs lost": sum(r["epochs_lost"] for r in rows),
        "duplicated metric rows": sum(r["duplicated_rows"] for r in rows),
        "non-JSON event lines": sum(r["non_json_event_lines"] for r in rows),
        "identical to uninterrupted": f"{sum(r['same_as_uninterrupted'] for r in rows)}/{len(rows)}",
    }
    review = [r for r in server if "decisions lost" in r]
    server_summary = {
        "server kill -9": len(server),
        "runs lost": sum(not (r["run done"] and r["each epoch once"]) for r in server if "run done" in r),
        "uploads left half-registered": sum(r["upload in flight"] == "HALF" for r in server if "upload in flight" in r),
        "decisions acknowledged": sum(r["decisions acknowledged"] for r in review),
        "decisions lost": sum(r["decisions lost"] for r in review),
        "queue back where it was": f"{sum(r['back where it was'] for r in review)}/{len(review)}",
    }
    print(server_summary)
    print(summary)
    if args.out:
        result = {
            "title": "Fault injection: kill -9 of the trainer (then --resume) and of the web server (during training, "
            "upload and review); one writer per run",
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} CPU cores, "
            f"load average {os.getloadavg()[0]:.1f} at the end (shared development VM)",
            "command": "python benchmarks/faults.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "setup": "generated audio set (4 classes x 6 clips), ultralight_audio with a 16-mel 4096-sample front-end, "
            f"{args.epochs} epochs, early stopping off; each start of a resume killed with probability "
            f"{args.resume_kill_probability} at a uniform moment within the reference run time "
            f"({reference_s:.1f} s incl. start-up).",
            "figures": [summary, *rows, server_summary, *server],
            "notes": [
                "epochs lost counts epochs missing from metrics.csv of the finished run (the epoch in flight at a "
                "kill is replayed from the epoch-start last.ckpt, so it is never lost); duplicated rows counts "
                "epochs that appear twice.",
                "Lock checks with real processes: " + json.dumps(locks),
                "Web server faults: `nightscan-edge serve` killed with SIGKILL at a random moment while a run trains "
                "(4 epochs), while a zip is uploaded in 64 KiB pieces, and while a client decides review windows one "
                "after another; then started again on the same data dir. Runs lost counts runs that did not end "
                "done with each epoch once; decisions lost counts decisions answered 201 but missing after the "
                "restart.",
            ],
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.out}")
    server_ok = server_summary["runs lost"] == 0 and server_summary["decisions lost"] == 0
    return 0 if all(r["completed"] for r in rows) and server_ok else 1


if __name__ == "__main__":
    sys.exit(main())
