"""The three rates ``train_throughput.py`` compares for one (model, device, threads, variant) row: the engine's real
epoch (``train()`` timed by a callback added to its Trainer), the data path alone, and a plain PyTorch loop on
ready batches (the upper bound)."""

from __future__ import annotations

import contextlib
import os
import statistics
import time
from pathlib import Path

import lightning as L
import numpy as np
import torch
from torch.nn import functional as F

from bench_common import clock
from nightscan_edge.config import resolve_config
from nightscan_edge.data import write_synthetic_dataset
from nightscan_edge.data.batches import AudioBank, train_data
from nightscan_edge.data.photo_augment import normalise
from nightscan_edge.data.prepare import prepare_data
from nightscan_edge.models import MODELS, create_model
from nightscan_edge.train import train
from nightscan_edge.train.devices import channels_last
from nightscan_edge.train.module import make_optimizer


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


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

    if MODELS.get(model).input_kind == "image":
        model_section["image_size"] = args.image_size
    return resolve_config({"data": {"path": str(data), "val_fraction": 0.1}, "model": model_section, "train": train})


def engine_rate(config) -> tuple[float, float, float]:
    """The engine's (wall, CPU-time) samples/s over the epochs after the first, and the first epoch's seconds
    (its warm-up: with ``train.compile``, the compilation)."""
    timer = EpochTimer()
    with timer.attached():
        train(config, progress=False)
    return (*timer.rates(skip=1), timer.epochs[0][1])


def data_path_rate(config, prepared, device: torch.device, model) -> float:
    """The engine's loader + transfer + batch augmentation, no model (the LogMel front-end is part of the model;
    SpecAugment's masks are applied to a spectrogram-shaped tensor made once)."""
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


def generated_data(root: Path, kind: str, image_size: int) -> Path:

    folder = root / kind
    if not folder.exists():
        write_synthetic_dataset(folder, kind=kind, per_class=12, seed=0, image_size=image_size)
    return folder


def measure_row(
    model: str, device_name: str, thread_count: int, variant: str, args, root: Path, data_rates: dict
) -> dict | None:
    """One (model, device, threads, variant) row: data path (once per device and thread count), plain loop,
    engine, plain loop again. None when the variant does not apply (channels-last for audio)."""
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
