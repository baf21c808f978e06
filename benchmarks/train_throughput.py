"""Training throughput: samples/s of the engine's real epoch, of the data path alone, and of a plain PyTorch loop
on ready batches (the upper bound), per model, device, thread count and precision.

    nice .venv/bin/python benchmarks/train_throughput.py                       # edge models, CPU at 1 and all threads
    .venv/bin/python benchmarks/train_throughput.py --devices cpu,cuda --server  # + CUDA columns and server models
    .venv/bin/python benchmarks/train_throughput.py --data ../shared/data/animal-sounds --models ultralight_audio

(a) engine: ``train()`` itself (Lightning, events, checkpoints, augmentation on), timed from each training
    epoch's start to its validation's start by a callback added to the Trainer; the first epoch is a warm-up.
(b) data path: the engine's training loader + the transfer to the device + the batch augmentation, and for
    audio the LogMel front-end and SpecAugment -- everything before the network body.
(c) plain: a hand-written loop (forward, the engine's loss -- cross-entropy with its class weights and label
    smoothing --, backward, a step of the engine's optimizer with its options; LogMel for audio) on a few batches
    already on the device: the best the engine could do with a free data path.

The plain loop runs before and after the engine (A-B-A) and the engine is compared with their mean, so load
drifting on a shared machine does not bias the ratio; ``--repeats N`` runs the engine N times between plain runs
(A-B-A-B-...-A) and gives medians. Each rate is also given per second of the process's CPU time, which other work
on a shared machine does not count (cache and SMT sharing still do). ``--variants ...,compile`` adds
``torch.compile`` rows; where it cannot work (no C++ compiler, ...) the rows and the notes say so. Targets:
engine/plain >= 0.9 (CPU, 1 thread) and >= 0.8 (CUDA); data/engine >= 10. Data are generated (runs anywhere) unless
``--data`` is given. Results: a table and ``benchmarks/results/train_throughput.json`` (date, machine, command),
rewritten after every row.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import platform
import sys
import tempfile
import warnings
from pathlib import Path

import torch

from bench_common import RESULTS_DIR, command_line, load_average, today, write_result
from nightscan_edge.errors import TrainingCancelled
from nightscan_edge.models import list_models
from train_throughput_rates import compile_problem, measure_row

EDGE_MODELS = ("ultralight_audio", "lightweight_audio", "mobilenet_v3_small_photo")
VARIANTS = ("fp32", "bf16", "channels_last", "compile")
DEFAULT_OUT = RESULTS_DIR / "train_throughput.json"


def machine() -> dict:
    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
    }
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpus"] = torch.cuda.device_count()
    return info


def settings(devices: list[str], threads: list[int], variants: list[str]) -> list[tuple[str, int, str]]:
    """(device, threads, variant) rows: every variant on CUDA; on CPU fp32 (when asked) at each thread count, the
    other variants at the last thread count only (CPU time is the scarce thing)."""
    rows = []
    for device in devices:
        if device == "cuda":
            rows += [("cuda", 0, v) for v in variants]
            continue
        rows += [("cpu", t, "fp32") for t in threads if "fp32" in variants]
        rows += [("cpu", threads[-1], v) for v in variants if v != "fp32"]
    return rows


def server_models() -> tuple[list[str], dict[str, str]]:
    """The registry's server tier: models this benchmark trains, and the ones it cannot with the reason."""
    measured, skipped = [], {}
    for entry in list_models(tier="server"):
        if entry.frozen_embedding:
            skipped[entry.name] = (
                "not applicable: it trains a linear head on cached BirdNET embeddings (one per file and window, "
                "computed once by BirdNET on LiteRT), so a step is a 1024 x classes matrix product and engine/plain "
                "would measure only Lightning's per-step cost; the embedding pass is its real cost"
            )
        else:
            measured.append(entry.name)
    return measured, skipped


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--models", default=",".join(EDGE_MODELS), help="comma list (default: the edge models)")
    parser.add_argument(
        "--server", action="store_true", help="add the registry's server models, fp32 rows only (slow on CPU)"
    )
    parser.add_argument("--data", help="folder or manifest of real data (default: generated audio/photo sets)")
    parser.add_argument("--photo-data", help="photo folder when --data is audio (default: generated)")
    parser.add_argument("--devices", default="cpu" + (",cuda" if torch.cuda.is_available() else ""))
    parser.add_argument("--threads", default="1,0", help="CPU thread counts; 0 = all cores")
    parser.add_argument(
        "--variants",
        default="fp32",
        help="comma list of fp32, bf16, channels_last, compile (CUDA default: fp32,bf16,channels_last)",
    )
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=4, help="batches per epoch (and plain-loop steps)")
    parser.add_argument("--epochs", type=int, default=2, help="engine/data-path epochs; the first is a warm-up")
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="engine runs per row, each between two plain runs; the row gives the medians (a shared machine's "
        "load drifts)",
    )
    parser.add_argument("--note", action="append", default=[], help="a note written under the table (repeatable)")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)

    logging_quiet()
    models = [m for m in args.models.split(",") if m]
    skipped: dict[str, str] = {}
    fp32_only: set[str] = set()
    if args.server:
        server, skipped = server_models()
        fp32_only = {m for m in server if m not in models}  # CPU time is scarce: their fp32 rows only
        models += [m for m in server if m not in models]
    devices = [d for d in args.devices.split(",") if d]
    if "cuda" in devices and not torch.cuda.is_available():
        sys.exit("--devices cuda: no CUDA GPU visible here (torch.cuda.is_available() is False); drop cuda")
    variants = [v for v in args.variants.split(",") if v]
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        sys.exit(f"--variants: unknown {', '.join(unknown)}; use a comma list of {', '.join(VARIANTS)}")
    threads = [int(t) or (os.cpu_count() or 1) for t in args.threads.split(",")]
    info = machine()
    no_compile = compile_problem() if "compile" in variants else None
    result = {
        "title": "Training throughput, samples/s: engine vs data path vs plain loop",
        "date": today(),
        "machine": ", ".join(f"{k} {info[k]}" for k in ("cpu", "cores", "gpu", "torch") if k in info)
        + ("" if "gpu" in info else ", no GPU")
        + f"; load average {load_average()} at the start",
        "command": command_line(argv, script=__file__),
        "setup": f"batch {args.batch_size}, {args.steps} batches per epoch, {args.epochs} epochs (the first left out), "
        f"photos at {args.image_size} px, {args.data or 'generated data'}. engine = train() with augmentation on; "
        "data path = loader + transfer + batch augmentation, no model; plain = forward, the engine's loss, backward "
        "and a step of the engine's optimizer on ready batches on the device (mean of the runs before and after the "
        "engine; with --repeats, medians over the engine runs, each against the plain runs either side of it). "
        "/s = per wall-clock second; cpu = per second of the process's CPU time, which other work on a "
        "shared machine does not count.",
        "figures": [],
        "notes": [],
        "machine_details": info,
    }
    header = (
        f"{'model':<26} {'device':<6} {'thr':>3} {'variant':<13} {'engine/s':>9} {'data/s':>9} {'plain/s':>9} "
        f"{'eng/plain':>9} {'cpu e/p':>7} {'data/eng':>8}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="nightscan-throughput-") as temporary:
        root = Path(temporary)
        for model in models:
            data_rates: dict[tuple[str, int], float] = {}
            for device_name, thread_count, variant in settings(
                devices, threads, ["fp32"] if model in fp32_only else variants
            ):
                row = {"model": model, "device": device_name, "threads": thread_count, "variant": variant}
                problem = no_compile if variant == "compile" else None
                if problem is None:
                    try:
                        figures = measure_row(model, device_name, thread_count, variant, args, root, data_rates)
                    except TrainingCancelled:
                        raise  # Ctrl-C / SIGTERM stop the benchmark, not just this row
                    except Exception as error:  # noqa: BLE001 -- one row failing (e.g. compile) must not end the run
                        first = (str(error).strip().splitlines() or [""])[0][:200]
                        problem = f"failed: {type(error).__name__}: {first}"
                    else:
                        if figures is None:
                            continue
                        row.update(figures)
                if problem is not None:
                    row["note"] = problem
                    print(f"{model:<26} {device_name:<6} {thread_count:>3} {variant:<13} {problem}", flush=True)
                else:
                    print(
                        f"{model:<26} {device_name:<6} {row['threads']:>3} {variant:<13} {row['engine/s']:>9.1f} "
                        f"{row['data path/s']:>9.0f} {row['plain/s']:>9.1f} {row['engine/plain']:>9.2f} "
                        f"{row['engine/plain (cpu)']:>7.2f} {row['data/engine']:>8.1f}",
                        flush=True,
                    )
                result["figures"].append(row)
                write_result(args.out, result)  # partial results survive a time limit
        for model, reason in skipped.items():
            print(f"{model}: {reason}")
            result["figures"].append({"model": model, "note": reason})
    result["machine"] += f", {load_average()} at the end"
    if no_compile:
        result["notes"].append(f"compile rows: {no_compile}.")
    result["notes"] += args.note
    write_result(args.out, result)
    print(f"wrote {args.out}")
    return 0


def logging_quiet() -> None:
    """Lightning's per-run banners and warnings would bury the table."""
    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "nightscan_edge"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


if __name__ == "__main__":
    sys.exit(main())
