"""Engine overhead: time per epoch through ``train()`` (Lightning, events, checkpoints) vs a plain PyTorch loop
on the same model, data, sampler and augmentation; and how much the decode cache saves per epoch.

    nice .venv/bin/python benchmarks/train_overhead.py [--data ../shared/data/animal-sounds] [--epochs 3]

Both loops train and validate each epoch (validation scores every window, clip-level). The first epoch is a
warm-up and is left out; the figure is the median of the others. The plain loop runs before and after the
engine (A-B-A) and the engine is compared with their mean, so a machine whose load drifts during the run does
not bias the ratio (the two plain figures show how much it drifted). Target: ratio <= 1.10.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from bench_common import SHARED_DATA


def plain_loop(config, prepared, epochs: int) -> list[float]:
    """What a careful hand-written script does: same data objects (the batch data path and its device-side
    augmentation), Adam, log-mel on the batch, clip-level val."""
    from nightscan_edge.data.batches import train_data
    from nightscan_edge.data.datasets import AudioEvalDataset, collate_windows
    from nightscan_edge.models import create_model

    torch.manual_seed(config.train.seed)
    val_split = prepared.splits["val"]
    model = create_model(config.model.name, len(prepared.labels), spec=prepared.spec)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    weights = torch.tensor(prepared.class_weights())
    data = train_data(config, prepared)
    val_loader = DataLoader(
        AudioEvalDataset(val_split.arrays, val_split.labels, prepared.spec),
        batch_size=config.train.batch_size,
        collate_fn=collate_windows,
    )
    seconds = []
    for epoch in range(epochs):
        started = time.perf_counter()
        data.batches.set_epoch(epoch)
        model.train()
        for batch in data.loader:
            with torch.no_grad():
                spectrogram = data.augment.mask_spectrogram(model.log_mel(data.augment(batch)), batch)
            loss = F.cross_entropy(model(spectrogram), batch["y"], weight=weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for windows, labels, owner in val_loader:
                probabilities = torch.softmax(model(model.log_mel(windows)), 1)
                clips = torch.zeros(labels.numel(), probabilities.shape[1]).index_add_(0, owner, probabilities)
                correct += int((clips.argmax(1) == labels).sum())
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(SHARED_DATA / "animal-sounds"))
    parser.add_argument("--model", default="ultralight_audio")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    from nightscan_edge.config import resolve_config
    from nightscan_edge.data import prepare_data, write_synthetic_dataset
    from nightscan_edge.data.cache import MediaCache
    from nightscan_edge.train import train

    scratch = Path(tempfile.mkdtemp(prefix="nightscan-overhead-"))
    data = Path(args.data)
    if not (data / "manifest.csv").is_file():
        data = write_synthetic_dataset(scratch / "synthetic", per_class=30)
        print(f"{args.data} not found; using a generated SYNTHETIC set ({data})")
    config = resolve_config(
        {
            "data": {"path": str(data)},
            "model": {"name": args.model},
            "train": {"epochs": args.epochs, "early_stopping_patience": None, "scheduler": "none"},
        }
    )

    started = time.perf_counter()
    prepared = prepare_data(config, cache=MediaCache("none"))
    decode_seconds = time.perf_counter() - started
    plain_before = plain_loop(config, prepared, args.epochs)
    run = train(config, run_dir=scratch / "engine", progress=False)
    plain_after = plain_loop(config, prepared, args.epochs)
    with (run.run_dir / "metrics.csv").open() as handle:
        engine = [float(row["seconds"]) for row in csv.DictReader(handle)]
    before, after = (statistics.median(p[1:] or p) for p in (plain_before, plain_after))
    plain_epoch, engine_epoch = (before + after) / 2, statistics.median(engine[1:] or engine)
    print(
        f"data: {data} ({sum(len(s.labels) for s in prepared.splits.values())} files), model {args.model}, "
        f"{args.threads} threads, {args.epochs} epochs (first left out)"
    )
    print(
        f"plain PyTorch loop: {before:.2f} s/epoch before, {after:.2f} after   engine: {engine_epoch:.2f} s/epoch   "
        f"ratio {engine_epoch / plain_epoch:.3f} (target <= 1.10)"
    )
    print(
        f"decoding every file once: {decode_seconds:.2f} s; an uncached epoch would take "
        f"{decode_seconds + engine_epoch:.2f} s -> cached epochs are "
        f"{(decode_seconds + engine_epoch) / engine_epoch:.2f}x faster"
    )


if __name__ == "__main__":
    main()
