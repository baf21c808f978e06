"""The measured front of ``nightscan-edge tune`` on the shared animal-sounds set -> benchmarks/results/tune.json.

Runs (or resumes: the study lives in ``--out``) a study of ``ultralight_audio`` under ``budgets/phone_tiny.yaml``
and records every trial (values, macro-F1, LiteRT INT8 latency at 1 thread, size, gate), the wall and CPU time,
and the issue's targets against the preset's dev macro-F1 (0.856, ``benchmarks/results/training.json``).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/tune.py --trials 7 --epochs 3
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import optuna
import torch

from bench_common import command_line, load_average, machine_summary, today, write_result
from nightscan_edge.quiet import quiet_libraries
from nightscan_edge.tune import TuneOptions, run_study
from nightscan_edge.tune.storage import default_storage_url

ROOT = Path(__file__).resolve().parents[1]
PRESET_MACRO_F1 = 0.856  # ultralight_audio preset, 30 epochs (benchmarks/results/training.json)
SMALL_MB, SMALL_MS, LARGE_MB = 0.25, 1.0, 1.0  # the two targets


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _trial_seconds(study_folder: Path, name: str) -> list[float]:
    """Each finished trial's wall time, read from the study (a resumed invocation did not time them itself)."""
    study = optuna.load_study(study_name=name, storage=default_storage_url(study_folder))
    return [
        (t.datetime_complete - t.datetime_start).total_seconds()
        for t in study.trials
        if t.datetime_complete is not None and t.datetime_start is not None
    ]


def _values(params: dict) -> str:
    shown = []
    for key, value in sorted(params.items()):
        shown.append(f"{key}={value:.3g}" if isinstance(value, float) else f"{key}={value}")
    return ", ".join(shown)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("NIGHTSCAN_SHARED_DATA", ROOT.parent / "shared" / "data"))
    parser.add_argument("--data", type=Path, default=shared / "animal-sounds")
    parser.add_argument("--budget", type=Path, default=ROOT / "budgets" / "phone_tiny.yaml")
    parser.add_argument("--space", type=Path, default=None, help="narrow the space (default: bench_space below)")
    parser.add_argument("--trials", type=int, default=7)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("/tmp/nightscan-tune-bench"))
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "results" / "tune.json")
    parser.add_argument("--note", action="append", default=[], help="a line added to the results' notes")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    quiet_libraries(None, "tune")
    args.out.mkdir(parents=True, exist_ok=True)
    space = args.space
    if space is None:  # few trials: leave out pruning (each would add a fine-tune) and the widest widths
        space = args.out / "bench_space.yaml"
        space.write_text("width_multiplier: {low: 0.25, high: 0.75}\nn_mels: [32, 48, 64]\npruning_ratio: 0.0\n")
    command = "OMP_NUM_THREADS=1 nice -n 10 " + command_line(script=__file__)
    load_before = load_average()
    started, cpu_started = time.perf_counter(), _cpu_seconds()
    result = run_study(
        TuneOptions(
            data=args.data,
            model="ultralight_audio",
            budget=args.budget,
            trials=args.trials,
            epochs=args.epochs,
            out=args.out / "study",
            space=space,
            study="animal-sounds-phone-tiny",
            overrides=("data.cache=disk", f"data.cache_dir={args.out / 'cache'}", "bench.iterations=30"),
        )
    )
    wall_s, cpu_s = time.perf_counter() - started, _cpu_seconds() - cpu_started
    trial_s = _trial_seconds(args.out / "study", "animal-sounds-phone-tiny")
    figures = []
    for row in (r for r in result.rows if r.state != "waiting"):  # queued to resume: not run yet
        figures.append(
            {
                "trial": row.trial,
                "state": row.state,
                "values": _values(row.params),
                "dev macro-F1": "-" if row.macro_f1 is None else f"{row.macro_f1:.3f}",
                "shipped file p50, 1 thread (ms)": "-" if row.latency_p50_ms is None else f"{row.latency_p50_ms:.2f}",
                "size (MB)": "-" if row.size_mb is None else f"{row.size_mb:.3f}",
                "INT8 gate": row.int8_gate or "-",
                "within budget": "-" if row.within_budget is None else ("yes" if row.within_budget else "no"),
                "front": "*" if row.on_front else "",
            }
        )
    measured = [r for r in result.rows if r.macro_f1 is not None and r.size_mb is not None]
    small = [r for r in measured if r.size_mb <= SMALL_MB and (r.latency_p50_ms or 1e9) <= SMALL_MS]
    large = [r for r in measured if r.size_mb <= LARGE_MB]
    best_small = max((r.macro_f1 or 0.0 for r in small), default=None)
    best_large = max((r.macro_f1 or 0.0 for r in large), default=None)
    notes = [
        *args.note,
        f"{sum(r.state in ('complete', 'pruned') for r in result.rows)} finished trials of {args.epochs} epochs: "
        f"{sum(trial_s) / 60:.1f} min of trials by wall clock "
        f"(each {', '.join(f'{s / 60:.1f}' for s in trial_s)} min); this invocation {wall_s / 60:.1f} min wall, "
        f"{cpu_s / 60:.1f} CPU-min, on a shared 2-core machine under a load average near 20 (other jobs).",
        f"Target 1 (<= {SMALL_MB} MB INT8, <= {SMALL_MS} ms LiteRT, macro-F1 >= preset {PRESET_MACRO_F1}): best "
        f"reached {'none' if best_small is None else f'{best_small:.3f}'} -- "
        f"{'met' if best_small is not None and best_small >= PRESET_MACRO_F1 else 'not met'}.",
        f"Target 2 (<= {LARGE_MB} MB INT8, macro-F1 >= {PRESET_MACRO_F1 + 0.02:.3f}): best reached "
        f"{'none' if best_large is None else f'{best_large:.3f}'} -- "
        f"{'met' if best_large is not None and best_large >= PRESET_MACRO_F1 + 0.02 else 'not met'}.",
        f"Each trial trains {args.epochs} epochs, against the preset's 30: the front is the one a short search "
        "reaches, and its macro-F1 is below what the same configurations reach when trained to the end.",
    ]
    payload = {
        "title": "tune: the measured front of ultralight_audio under budgets/phone_tiny.yaml (animal-sounds)",
        "date": today(),
        "machine": machine_summary(1) + f"; load average {load_before} at the start (other jobs)",
        "command": command,
        "setup": f"{args.trials} trials, {args.epochs} epochs each, search space `{space.read_text().strip()}` "
        "(the rest of the declared space open), MOTPE sampler, MedianPruner, split 80/20 (seed 0).",
        "figures": figures,
        "notes": notes,
        "winner": None if result.winner is None else result.winner.trial,
        "trial_wall_seconds": [round(s, 1) for s in trial_s],
        "wall_seconds": round(wall_s, 1),
        "cpu_seconds": round(cpu_s, 1),
    }
    write_result(args.results, payload)
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
