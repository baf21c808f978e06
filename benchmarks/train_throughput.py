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
import datetime
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
EDGE_MODELS = ("ultralight_audio", "lightweight_audio", "mobilenet_v3_small_photo")
VARIANTS = ("fp32", "bf16", "channels_last", "compile")
DEFAULT_OUT = REPO / "benchmarks" / "results" / "train_throughput.json"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def clock() -> tuple[float, float]:
    """(wall-clock, this process's CPU time): on a CPU shared with other work the wall clock measures the
    neighbours too, while CPU time counts only this process's own work (all its threads)."""
    return time.perf_counter(), time.process_time()


def compile_problem() -> str | None:
    """None when ``torch.compile`` works here; otherwise one line saying why (no C++ compiler for Inductor's CPU
    kernels, an unsupported Python, ...), so the compile rows say so instead of crashing the benchmark."""
    try:
        compiled = torch.compile(lambda x: torch.relu(x) * 2)
        compiled(torch.randn(4, 4))
    except Exception as error:  # noqa: BLE001 -- any failure means "not available here", said in one line
        first = (str(error).strip().splitlines() or [""])[0][:200]
        return f"torch.compile does not work here ({type(error).__name__}: {first})"
    return None


class EpochTimer:
    """Training part of each epoch (start -> validation start) and the samples it saw; added to the Trainer."""

    def __init__(self) -> None:
        import lightning as L

        timer = self

        class _Callback(L.Callback):
            def on_train_epoch_start(self, trainer, module) -> None:
                sync(module.device)
                timer.started, timer.samples = clock(), 0

            def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
                labels = batch["y"] if isinstance(batch, dict) else batch[1]
                timer.samples += int(labels.shape[0])

            def on_validation_epoch_start(self, trainer, module) -> None:
                sync(module.device)
                wall, cpu = clock()
                timer.epochs.append((timer.samples, wall - timer.started[0], cpu - timer.started[1]))

        self.callback = _Callback()
        self.epochs: list[tuple[int, float, float]] = []
        self.started, self.samples = (0.0, 0.0), 0

    def rates(self, skip: int = 1) -> tuple[float, float]:
        """Samples per wall-clock second and per second of this process's CPU time (first epoch left out)."""
        measured = self.epochs[skip:] or self.epochs
        samples = sum(n for n, _, _ in measured)
        return samples / max(sum(w for _, w, _ in measured), 1e-9), samples / max(sum(c for _, _, c in measured), 1e-9)

    @contextlib.contextmanager
    def attached(self):
        import lightning as L

        original = L.Trainer.__init__
        callback = self.callback

        def init(trainer, *args, callbacks=None, **kwargs):
            original(trainer, *args, callbacks=[*(callbacks or []), callback], **kwargs)

        L.Trainer.__init__ = init
        try:
            yield self
        finally:
            L.Trainer.__init__ = original


def make_config(model: str, data: Path, args, device: str, variant: str, runs_dir: Path, repeat: int = 0):
    from nightscan_edge.config import resolve_config

    train = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "min_steps_per_epoch": args.steps,
        "early_stopping_patience": None,
        "accelerator": device,
        "devices": "1",
        "runs_dir": str(runs_dir),
        "precision": "bf16-mixed" if variant == "bf16" else "32",
        "compile": variant == "compile",
        "channels_last": variant == "channels_last",
        "scheduler": "none",
        "run_name": f"{model}-{device}-{torch.get_num_threads()}-{variant}-{repeat}",
    }
    model_section = {"name": model, "weights": None}
    from nightscan_edge.models import MODELS

    if MODELS.get(model).input_kind == "image":
        model_section["image_size"] = args.image_size
    return resolve_config({"data": {"path": str(data), "val_fraction": 0.1}, "model": model_section, "train": train})


def engine_rate(config) -> tuple[float, float, float]:
    """The engine's (wall, CPU-time) samples/s over the epochs after the first, and the first epoch's seconds
    (its warm-up: with ``train.compile``, the compilation)."""
    from nightscan_edge.train import train

    timer = EpochTimer()
    with timer.attached():
        train(config, progress=False)
    return (*timer.rates(skip=1), timer.epochs[0][1])


def data_path_rate(config, prepared, device: torch.device, model) -> float:
    """The engine's loader + transfer + batch augmentation, no model (the LogMel front-end is part of the model;
    SpecAugment's masks are applied to a spectrogram-shaped tensor made once)."""
    from nightscan_edge.data.batches import train_data
    from nightscan_edge.train.devices import channels_last

    data = train_data(
        config, prepared, pin_memory=device.type == "cuda", channels_last=channels_last(config, device.type == "cuda")
    )
    spans = []
    spectrogram = None
    if model.input_kind == "audio":
        with torch.no_grad():
            spectrogram = model.log_mel(torch.zeros(config.train.batch_size, prepared.spec.clip_samples, device=device))
    for epoch in range(config.train.epochs):
        data.batches.set_epoch(epoch)
        sync(device)
        started, samples = time.perf_counter(), 0
        for batch in data.loader:
            batch = {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}
            with torch.no_grad():
                raw = data.augment(batch)
                if spectrogram is not None:
                    data.augment.mask_spectrogram(spectrogram[: raw.shape[0]], batch)
            samples += int(batch["y"].shape[0])
        sync(device)
        spans.append((samples, time.perf_counter() - started))
    measured = spans[1:] or spans
    return sum(n for n, _ in measured) / sum(t for _, t in measured)


def ready_batches(config, prepared, device: torch.device, count: int = 4):
    """A few unaugmented batches, gathered once and moved to the device before the clock starts."""
    import numpy as np

    from nightscan_edge.data.batches import AudioBank
    from nightscan_edge.data.photo_augment import normalise

    split, size = prepared.splits["train"], config.train.batch_size
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(count):
        index = rng.integers(0, len(split.labels), size)
        y = torch.as_tensor(np.asarray(split.labels)[index], device=device)
        if prepared.kind == "audio":
            bank = AudioBank.from_clips([split.arrays[i] for i in index])
            x = torch.from_numpy(
                bank.windows(
                    np.arange(size), np.zeros(size, np.int64), None, prepared.spec.clip_samples, prepared.spec.pad_mode
                )
            )
        else:
            x = normalise(torch.from_numpy(np.stack([split.arrays[i] for i in index])), prepared.spec)
        batches.append((x.to(device), y))
    return batches


def plain_rate(config, prepared, device: torch.device, variant: str, steps: int) -> tuple[float, float]:
    """(wall, CPU-time) samples/s of forward + loss + backward + optimizer step on ready batches."""
    from torch.nn import functional as F

    from nightscan_edge.models import create_model
    from nightscan_edge.train.module import make_optimizer

    torch.manual_seed(0)
    model = create_model(config.model.name, len(prepared.labels), spec=prepared.spec).to(device)
    if variant == "channels_last" and model.input_kind == "image":
        model = model.to(memory_format=torch.channels_last)
    if variant == "compile":
        model.compile()
    optimizer = make_optimizer(model.parameters(), config.train)  # the engine's optimizer, options included
    weight = torch.tensor(prepared.class_weights(), device=device) if config.data.class_weights else None
    batches = ready_batches(config, prepared, device)
    if variant == "channels_last" and model.input_kind == "image":
        batches = [(x.contiguous(memory_format=torch.channels_last), y) for x, y in batches]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=variant == "bf16")
    model.train()
    warmup = 2 if variant != "compile" else 4

    def step(x, y) -> None:
        with autocast:
            if model.input_kind == "audio":
                with torch.no_grad():
                    x = model.log_mel(x)
            loss = F.cross_entropy(model(x), y, weight=weight, label_smoothing=config.train.label_smoothing)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for i in range(warmup):
        step(*batches[i % len(batches)])
    sync(device)
    wall, cpu = clock()
    for i in range(steps):
        step(*batches[i % len(batches)])
    sync(device)
    samples = steps * config.train.batch_size
    return samples / (time.perf_counter() - wall), samples / max(time.process_time() - cpu, 1e-9)


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


def generated_data(root: Path, kind: str, image_size: int) -> Path:
    from nightscan_edge.data import write_synthetic_dataset

    folder = root / kind
    if not folder.exists():
        write_synthetic_dataset(folder, kind=kind, per_class=12, seed=0, image_size=image_size)
    return folder


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
    from nightscan_edge.models import list_models

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


def load_average() -> str:
    with contextlib.suppress(OSError):
        return f"{os.getloadavg()[0]:.1f}"
    return "?"


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

    from nightscan_edge.atomic import write_json_atomic
    from nightscan_edge.errors import TrainingCancelled

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
        "date": datetime.date.today().isoformat(),
        "machine": ", ".join(f"{k} {info[k]}" for k in ("cpu", "cores", "gpu", "torch") if k in info)
        + ("" if "gpu" in info else ", no GPU")
        + f"; load average {load_average()} at the start",
        "command": "python " + " ".join([os.path.relpath(__file__, REPO), *(sys.argv[1:] if argv is None else argv)]),
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
                write_json_atomic(args.out, result)  # partial results survive a time limit
        for model, reason in skipped.items():
            print(f"{model}: {reason}")
            result["figures"].append({"model": model, "note": reason})
    result["machine"] += f", {load_average()} at the end"
    if no_compile:
        result["notes"].append(f"compile rows: {no_compile}.")
    result["notes"] += args.note
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return 0


def measure_row(
    model: str, device_name: str, thread_count: int, variant: str, args, root: Path, data_rates: dict
) -> dict | None:
    """One (model, device, threads, variant) row: data path (once per device and thread count), plain loop,
    engine, plain loop again. None when the variant does not apply (channels-last for audio)."""
    import lightning as L

    from nightscan_edge.data.prepare import prepare_data
    from nightscan_edge.models import MODELS, create_model

    kind = MODELS.get(model).input_kind
    if variant == "channels_last" and kind != "image":
        return None
    if kind == "audio":
        data = Path(args.data) if args.data else generated_data(root, "audio", args.image_size)
    else:
        data = Path(args.photo_data) if args.photo_data else generated_data(root, "photo", args.image_size)
    torch.set_num_threads(thread_count or (os.cpu_count() or 1))
    device = torch.device(device_name)
    config = make_config(model, data, args, device_name, variant, root / "runs")
    L.seed_everything(0, verbose=False)
    prepared = prepare_data(config)
    front = create_model(model, len(prepared.labels), spec=prepared.spec).to(device)
    if (device_name, thread_count) not in data_rates:
        data_rates[(device_name, thread_count)] = data_path_rate(config, prepared, device, front)
    steps = args.steps * max(1, args.epochs - 1)
    # plain, engine, plain, engine, ..., plain: each engine run against the mean of the plain runs either side
    plains = [plain_rate(config, prepared, device, variant, steps)]
    engines = []
    for repeat in range(args.repeats):
        engines.append(engine_rate(make_config(model, data, args, device_name, variant, root / "runs", repeat)))
        plains.append(plain_rate(config, prepared, device, variant, steps))
    around = [
        (statistics.mean([a[0], b[0]]), statistics.mean([a[1], b[1]])) for a, b in zip(plains, plains[1:], strict=False)
    ]
    ratios = [e[0] / p[0] for e, p in zip(engines, around, strict=True)]
    cpu_ratios = [e[1] / p[1] for e, p in zip(engines, around, strict=True)]
    engine, engine_cpu = statistics.median(e[0] for e in engines), statistics.median(e[1] for e in engines)
    plain, plain_cpu = statistics.median(p[0] for p in plains), statistics.median(p[1] for p in plains)
    data_rate = data_rates[(device_name, thread_count)]
    row = {
        "threads": torch.get_num_threads(),
        "engine/s": round(engine, 1),
        "data path/s": round(data_rate, 1),
        "plain/s": round(plain, 1),
        "plain runs": " / ".join(f"{p[0]:.1f}" for p in plains),
        "engine/plain": round(statistics.median(ratios), 2),
        "engine cpu/s": round(engine_cpu, 1),
        "plain cpu/s": round(plain_cpu, 1),
        "engine/plain (cpu)": round(statistics.median(cpu_ratios), 2),
        "data/engine": round(data_rate / engine, 1),
        "first epoch s": round(statistics.median(e[2] for e in engines), 1),
    }
    if len(ratios) > 1:
        row["engine/plain runs"] = " / ".join(f"{r:.2f}" for r in ratios)
    return row


def logging_quiet() -> None:
    import logging
    import warnings

    for name in ("lightning", "lightning.pytorch", "lightning.fabric", "nightscan_edge"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


if __name__ == "__main__":
    sys.exit(main())
