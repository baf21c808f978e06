"""The few-shot benchmark's "new species" mode (issue 24). animal-sounds hides the gap between ``birdnet_head``
and an edge student: each class has its own sample-rate cut-off and near-copies of one recording sit on both sides
of a stratified split. This mode removes both shortcuts before anything else:

  * every clip is resampled to 16 kHz (soxr HQ) once, under ``OUT/clips-16k/``: no class keeps content above 8 kHz;
  * clips are grouped by source recording. The manifest names no source, so clips whose BirdNET embeddings (mean
    over windows) have a cosine of at least ``--group-similarity`` are taken to be cuts of one recording (single
    linkage within a class); whole groups go to one side of the split;
  * a fixed grouped test (30 %) and validation (15 %) split; K = 5 and 10 clips per class drawn from the rest (the
    pool) per seed; checkpoints are picked on validation, figures are on test.

Rows, each trained by the normal ``train`` path into its own run folder (``OUT/new-species/kK-sS/ROW``):

  * ``head``                 birdnet_head on the K clips (the server model)
  * ``distilled+u``          today's student: ultralight_audio ``--teacher`` head ``--unlabeled`` pool
  * ``feature-ultralight``   ``--embedding-teacher birdnet`` (BirdNET's embedding learnt first on the labelled
    clips, the pool and ``--ambient``), then the same training as ``distilled+u``
  * ``feature-lightweight``  the same with lightweight_audio
  * ``phone``                route 1: the head's BirdNET phone file (BirdNET's LiteRT graph up to the embedding +
    the head, INT8, through ``export``) scored on the same test split, window by window in LiteRT

Each student is exported to LiteRT INT8 through ``export``: file size and LiteRT latency at 1 thread per window.

    python benchmarks/few_shot.py --mode new-species --out runs/few_shot --seeds 0 1 2 --student-seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import soundfile

from bench_common import (
    RESULTS_DIR,
    SHARED_DATA,
    command_line,
    read_labelled_manifest,
    sample_per_class,
    set_threads_and_seed,
    write_result,
    write_split_manifest,
)
from few_shot_variants import link_folder, log_counts, train_run
from new_species_report import ROWS, markdown, result_document, summarise
from nightscan_edge.atomic import write_bytes_atomic, write_json_atomic
from nightscan_edge.audio.decode import decode_audio

NEW_SPECIES_RATE = 16_000
STUDENT_MODELS = dict.fromkeys(("distilled+u", "feature-ultralight"), "ultralight_audio")
STUDENT_MODELS["feature-lightweight"] = "lightweight_audio"


def resample_set(items: list[tuple[str, str]], folder: Path) -> list[tuple[str, str]]:
    """Every clip at 16 kHz as a 16-bit FLAC under ``folder/<label>/`` (written once, atomically; reused)."""
    resampled = []
    for path, label in items:
        target = folder / label / f"{Path(path).stem}.flac"
        if not target.is_file():
            samples = decode_audio(path, NEW_SPECIES_RATE)
            scratch = target.with_suffix(".partial.flac")
            scratch.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(scratch), samples, NEW_SPECIES_RATE, subtype="PCM_16")
            write_bytes_atomic(target, scratch.read_bytes())
            scratch.unlink()
        resampled.append((str(target), label))
    return resampled


def recording_groups(items: list[tuple[str, str]], cache_dir: str, threads: int, similarity: float) -> list[str]:
    """A group name per clip: single-linkage components of clips of one class whose mean BirdNET embeddings have
    cosine >= ``similarity``. The embeddings land in the cache under the head's own key, so the heads later read
    them instead of running BirdNET again."""
    from nightscan_edge.birdnet.embeddings import EmbeddingCache, embed_clips  # the birdnet extra
    from nightscan_edge.models.birdnet_extractor import BIRDNET_SAMPLE_RATE

    clips = [decode_audio(path, BIRDNET_SAMPLE_RATE) for path, _ in items]
    embeddings, _ = embed_clips(clips, [Path(p) for p, _ in items], EmbeddingCache(cache_dir), threads=threads)
    means = np.stack([rows.mean(axis=0) for rows in embeddings])
    return similar_groups(means, [label for _, label in items], similarity)


def similar_groups(vectors: np.ndarray, labels: list[str], similarity: float) -> list[str]:
    """Single-linkage components, within each label, of vectors whose cosine is >= ``similarity``."""
    unit = vectors / (np.linalg.norm(vectors, axis=1, keepdims=True) + 1e-12)
    parent = list(range(len(labels)))

    def root(index: int) -> int:
        while parent[index] != index:
            parent[index] = parent[parent[index]]
            index = parent[index]
        return index

    for first, second in zip(*np.nonzero(np.triu(unit @ unit.T >= similarity, k=1)), strict=True):
        if labels[first] == labels[second]:
            parent[root(int(first))] = root(int(second))
    return [f"{labels[i]}/{root(i)}" for i in range(len(labels))]


def grouped_split(items: list, groups: list[str], seed: int = 0) -> tuple[list, list, list]:
    """Pool / val (>= 15 %) / test (>= 30 %) per class, whole groups to one side, the same for every run."""
    rng = np.random.default_rng(seed)
    pool, val, test = [], [], []
    for label in sorted({label for _, label in items}):
        members: dict[str, list] = {}
        for item, group in zip(items, groups, strict=True):
            if item[1] == label:
                members.setdefault(group, []).append(item)
        names = sorted(members)
        total = sum(len(m) for m in members.values())
        taken = 0
        for name in (names[i] for i in rng.permutation(len(names))):
            side = test if taken < 0.3 * total else val if taken < 0.45 * total else pool
            side += members[name]
            taken += len(members[name])
    return pool, val, test


def split_summary(items: list, groups: list[str], pool: list, val: list, test: list) -> dict:
    sizes = np.bincount(np.unique(groups, return_inverse=True)[1])
    return {
        "clips": len(items),
        "groups": int(sizes.size),
        "largest_group": int(sizes.max()),
        "clips_in_groups_of_2_or_more": int(sizes[sizes > 1].sum()),
        **{"pool": len(pool), "val": len(val), "test": len(test)},
        "test_per_class": {label: sum(1 for _, lab in test if lab == label) for label in sorted({x[1] for x in test})},
    }


def row_layers(row: str, base: dict, head_run: Path, unlabeled: Path | None, args) -> dict:
    """The ``train`` config of one row (the head's, or a student's with its teacher and unlabelled audio)."""
    if row == "head":
        return {
            "data": base,
            "model": {"name": "birdnet_head", "options": {"threads": args.threads}},
            "train": {"epochs": args.head_epochs, "batch_size": 32, "early_stopping_patience": None, "seed": args.seed},
        }
    train = {
        "epochs": args.epochs,
        "batch_size": 32,
        "min_steps_per_epoch": args.steps,
        "early_stopping_patience": None,
        "seed": args.seed,
        "teacher": str(head_run),
        "teacher_grid_seconds": args.grid_seconds,
    }
    if unlabeled is not None:
        train["unlabeled"] = str(unlabeled)
    if row.startswith("feature-"):
        train.update(
            embedding_teacher="birdnet",
            embedding_epochs=args.embedding_epochs,
            embedding_audio=[str(args.ambient)] if args.ambient else [],
        )
    return {"data": base, "model": {"name": STUDENT_MODELS[row]}, "train": train}


def int8_file(run_dir: Path, threads: int) -> dict:
    """Export the student to LiteRT INT8 through ``export`` (gate and all); size and latency at ``threads``
    thread(s) on one window. Saved beside the run and reused."""
    from nightscan_edge.bench.timing import measure_latency
    from nightscan_edge.export import export_run
    from nightscan_edge.runtime import load_runner

    saved = run_dir / "int8_litert.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    report = export_run(run_dir, formats=["tflite"], int8=True)
    artifact = report.artifact("tflite", "int8")
    result: dict = {"status": artifact.status, "licence": report.licence, "error": artifact.error}
    path = report.out_dir / artifact.file if artifact.file else None
    if path is not None and path.is_file():
        runner = load_runner(path, threads=threads)
        shape = [1 if d in (-1, None) else int(d) for d in runner.manifest["input"]["shape"]]
        example = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
        latency = measure_latency(runner.predict, example[0], warmup=5, iterations=30)
        result.update(path=str(path), size_mb=path.stat().st_size / 1e6)
        result.update(latency_ms_1_thread=latency.p50_ms, float_layers=(artifact.gate or {}).get("float_layers"))
    write_json_atomic(saved, result)
    return result


def phone_figures(head_run: Path, threads: int) -> dict:
    """Route 1 on this split: the head run's INT8 phone file through ``export`` (saved beside the run and reused;
    when the gate refuses it, the FP16 phone file, with the refusal recorded), its clip accuracy and macro-F1 on the
    test split (window probabilities averaged per clip, as the head's report does), its size and LiteRT latency at
    ``threads`` thread(s) on one 3 s window."""
    from birdnet_phone import figures as phone_scores  # benchmarks/birdnet_phone.py: the phone file's own table
    from nightscan_edge.bench.timing import measure_latency
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.data.samples import load_run_samples
    from nightscan_edge.export.birdnet_files import export_birdnet_phone
    from nightscan_edge.runtime import load_runner

    saved = head_run / "phone_int8.json"
    if saved.is_file():
        return json.loads(saved.read_text())
    started = time.perf_counter()
    files = export_birdnet_phone(head_run, int8=True)
    # A refused INT8 file is a row too: the gate's verdict is recorded, and the figures are those of the FP16 phone
    # file, the one docs/birdnet.md says to ship then (FP32 where FP16 failed).
    scored = files.int8 or files.fp16 or files.fp32
    inputs, labels, sources = load_run_samples(head_run, split="test")
    runner = load_runner(scored, threads=threads)
    probabilities = np.concatenate([runner.predict(window[None]) for window in inputs])
    scores = phone_scores(probabilities, labels, sources, len(load_trained_model(head_run).labels))
    latency = measure_latency(runner.predict, inputs[:1][0], warmup=3, iterations=20)
    shipped = {"path": str(scored), "latency_ms_1_thread": latency.p50_ms, "licence": files.report.licence}
    if files.int8 is not None:
        int8 = {"status": "ok", "size_mb": files.int8.stat().st_size / 1e6, **shipped}
    else:
        error = files.report.artifact("tflite", "int8").error
        precision = "fp16" if scored == files.fp16 else "fp32"
        int8 = {"status": "rejected", "error": error, "scored": precision,
                "scored_size_mb": scored.stat().st_size / 1e6, **shipped}  # fmt: skip
    result = {
        "run": str(head_run),
        "accuracy": scores["clip_accuracy"] / 100,
        "macro_f1": scores["clip_macro_f1"] / 100,
        "window_accuracy": scores["window_accuracy"] / 100,
        "val_accuracy": None,
        "seconds": time.perf_counter() - started,
        "int8": int8,
    }
    write_json_atomic(saved, result)
    return result


def cut_short_figures(run_dir: Path, planned_epochs: int) -> dict | None:
    """A student run stopped before its last epoch (the session's CPU ran out): its best checkpoint so far, picked
    on validation as training picks it, scored on the test split per clip (window probabilities averaged, as the
    run's own report does). None when no epoch has finished."""
    import torch

    from nightscan_edge.bench.metrics import classification_scores
    from nightscan_edge.checkpoint import load_trained_model
    from nightscan_edge.data.samples import load_run_samples
    from nightscan_edge.train import read_events

    epochs = [e for e in read_events(run_dir / "events.jsonl") if e["type"] == "epoch_end"]
    if not epochs or not (run_dir / "best.ckpt").is_file():
        return None
    trained = load_trained_model(run_dir / "best.ckpt")
    inputs, labels, sources = load_run_samples(run_dir, split="test")
    with torch.inference_mode():
        model = trained.model.eval()
        chunks = [model.forward_waveform(torch.from_numpy(inputs[i : i + 64])) for i in range(0, len(inputs), 64)]
        probabilities = torch.softmax(torch.cat(chunks), dim=1).numpy()
    clips = list(dict.fromkeys(sources))
    owner = np.array([clips.index(source) for source in sources])
    mean = np.stack([probabilities[owner == index].mean(axis=0) for index in range(len(clips))])
    truth = np.array([labels[owner == index][0] for index in range(len(clips))])
    scores = classification_scores(truth, mean.argmax(axis=1), trained.labels)
    return {
        "run": str(run_dir),
        "reused": False,
        "accuracy": float(scores.accuracy),
        "macro_f1": float(scores.macro_f1),
        "val_accuracy": max(float(e["val_acc"]) for e in epochs),
        "seconds": sum(float(e["seconds"]) for e in epochs),
        "label_epochs": f"{len(epochs)}/{planned_epochs} (cut short)",
        "val_accuracy_by_epoch": [round(float(e["val_acc"]), 4) for e in epochs],
    }


def main(argv: list[str] | None = None, command: str | None = None) -> int:

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs") / "few_shot")
    parser.add_argument("--cache-dir", default=str(Path.home() / ".cache" / "nightscan-edge"))
    parser.add_argument("--sizes", nargs="+", default=["5", "10"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="seeds of the head rows")
    parser.add_argument("--student-sizes", nargs="+", default=["10"])
    parser.add_argument("--student-seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--rows", nargs="*", default=list(ROWS), choices=ROWS)
    parser.add_argument(
        "--merge-from", nargs="+", type=Path, default=[], help="runs (and commands) of earlier result files to keep"
    )
    parser.add_argument("--epochs", type=int, default=30, help="student epochs (default: the preset, 30)")
    parser.add_argument("--steps", type=int, default=16, help="train.min_steps_per_epoch of the students")
    parser.add_argument("--embedding-epochs", type=int, default=10, help="train.embedding_epochs (feature rows)")
    parser.add_argument("--head-epochs", type=int, default=30)
    parser.add_argument("--grid-seconds", type=float, default=1.0, help="train.teacher_grid_seconds")
    parser.add_argument("--group-similarity", type=float, default=0.95)
    parser.add_argument("--ambient", type=Path, default=SHARED_DATA / "site-ambient", help="extra unlabelled audio")
    parser.add_argument("--threads", type=int, default=1, help="torch and LiteRT threads")
    parser.add_argument("--no-int8", action="store_true", help="skip the students' LiteRT INT8 export")
    parser.add_argument(
        "--cut-short",
        action="store_true",
        help="train nothing: score the best checkpoint so far of student runs that have not finished",
    )
    parser.add_argument("--results", type=Path, default=RESULTS_DIR / "few_shot_new_species.json")
    args = parser.parse_args(argv)
    set_threads_and_seed(args.threads)
    command = command or command_line(argv)
    items = resample_set(read_labelled_manifest(SHARED_DATA / "animal-sounds"), args.out / "clips-16k")
    if not (saved_groups := args.out / "clips-16k" / f"groups-{args.group_similarity:g}.json").is_file():
        write_json_atomic(saved_groups, recording_groups(items, args.cache_dir, args.threads, args.group_similarity))
    groups = json.loads(saved_groups.read_text())
    pool, val, test = grouped_split(items, groups)
    split = split_summary(items, groups, pool, val, test)
    print(json.dumps(split), flush=True)
    earlier = [json.loads(path.read_text()) for path in args.merge_from]
    # a later file's run replaces an earlier one of the same size, seed and row; every command that measured a kept
    # run stays in the document, one line each, ahead of this one
    kept = {(run["size"], run["seed"], run["variant"]): run for document in earlier for run in document["runs"]}
    rows: list[dict] = list(kept.values())
    command = "\n".join(
        dict.fromkeys([line for document in earlier for line in document["command"].splitlines()] + [command])
    )

    def job(size: str, seed: int, row: str) -> None:
        train_items = sample_per_class(pool, int(size), seed)
        chosen = {p for p, _ in train_items}
        unused = [item for item in pool if item[0] not in chosen]
        tag = args.out / "new-species" / f"k{size}-s{seed}"
        manifest = write_split_manifest(tag / "manifest.csv", train_items, val, test)
        base = {"path": str(manifest), "cache_dir": args.cache_dir}
        args.seed = seed
        head_run = tag / "head"
        if row != "head" and not (head_run / "report.json").is_file():
            train_run(row_layers("head", base, head_run, None, args), head_run)
        unlabeled = link_folder(tag / "unlabeled", unused) if row not in ("head", "phone") else None
        run_dir = tag / row.replace("+", "_")
        if row == "phone":
            record = {"size": size, "seed": seed, "variant": row, "train_clips": len(train_items)}
            record.update(phone_figures(head_run, args.threads))
            rows[:] = [r for r in rows if (r["size"], r["seed"], r["variant"]) != (size, seed, row)] + [record]
            write_result(args.results, result_document(rows, split, args, command))
            return
        if args.cut_short and not (run_dir / "report.json").is_file():
            figures = cut_short_figures(run_dir, args.epochs) if row != "head" else None
            if figures is None:
                return
        else:
            figures = train_run(row_layers(row, base, head_run, unlabeled, args), run_dir)
        record = {"size": size, "seed": seed, "variant": row, "train_clips": len(train_items), **figures}
        record["epochs"] = args.head_epochs if row == "head" else args.epochs  # the label epochs of this run
        if row.startswith("feature-"):
            record["embedding_epochs"] = args.embedding_epochs
        record.update(log_counts(run_dir))
        if row != "head" and not args.no_int8 and not args.cut_short:
            record["int8"] = int8_file(run_dir, args.threads)
        rows[:] = [r for r in rows if (r["size"], r["seed"], r["variant"]) != (size, seed, row)] + [record]
        print(json.dumps(record), flush=True)
        write_result(args.results, result_document(rows, split, args, command))

    for size, seed in ((size, seed) for size in args.sizes for seed in args.seeds if "head" in args.rows):
        job(size, seed, "head")
    for size, seed in ((size, seed) for size in args.student_sizes for seed in args.student_seeds):
        for row in (r for r in args.rows if r != "head"):
            job(size, seed, row)
    write_result(args.results, result_document(rows, split, args, command))
    print(markdown(summarise(rows)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
