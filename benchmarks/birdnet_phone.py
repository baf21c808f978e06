"""What BirdNET on the phone costs (issue 24, route 1): a birdnet_head run's phone files -- BirdNET V2.4's own LiteRT
graph up to the embedding + the head, FP32 / FP16 weights / INT8 -- against the server head they come from.

For each file: size, LiteRT latency per 3 s window at 1 thread on this CPU (``bench``'s measurement: warm-up, then
batch-1 percentiles), and accuracy / macro-F1 on the run's test split, per clip (window probabilities averaged
over the clip, as the head's validation does) and per window, with the top-1 agreement and the largest probability
difference against the server head (BirdNET in LiteRT + the PyTorch head, at the export's temperature) on the
same windows. A phone latency is *estimated* from the graph's FLOPs and the cited device classes of
``nightscan_edge.bench.devices``, and from this CPU's measured latency scaled by GEMM throughput.

    python benchmarks/birdnet_phone.py RUN                  # exports the run (FP32 + FP16 + INT8), then measures
    python benchmarks/birdnet_phone.py RUN --export DIR     # measures an existing export of it

Train the run first, e.g. ``nightscan-edge train --data ../shared/data/animal-sounds --model birdnet_head --set
data.test_fraction=0.2``. Writes ``benchmarks/results/birdnet_phone.json`` (date, machine, command, figures).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from nightscan_edge.artifact import FORMATS, load_manifest, read_manifest
from nightscan_edge.artifact.birdnet_tflite import FRONT_END_SCOPE, HEAD_SCOPE, constant_count, graph_flops
from nightscan_edge.artifact.containers import strip_appended_zip
from nightscan_edge.artifact.manifest import OUTPUT_NAME
from nightscan_edge.artifact.tflite_int8 import _quiet, keep_float
from nightscan_edge.artifact.wrapper import ExportableClassifier
from nightscan_edge.atomic import write_json_atomic
from nightscan_edge.bench import benchmark
from nightscan_edge.bench.devices import list_device_classes
from nightscan_edge.bench.options import BenchOptions, Samples, cpu_name
from nightscan_edge.bench.sources import open_source
from nightscan_edge.checkpoint import load_trained_model
from nightscan_edge.data.samples import load_run_samples
from nightscan_edge.export.birdnet_files import export_birdnet_phone
from nightscan_edge.export.quality_gate import classification_figures
from nightscan_edge.export.samples import torch_predict
from nightscan_edge.models.birdnet_extractor import locate_birdnet
from nightscan_edge.runtime import load_runner

RESULTS = Path(__file__).resolve().parent / "results" / "birdnet_phone.json"
FILES = {"fp32": "model.tflite", "fp16": "model_fp16.tflite", "int8": "model_int8.tflite"}


def per_clip(probabilities: np.ndarray, labels: np.ndarray, sources: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Window probabilities averaged per clip (the head's validation rule) and each clip's label."""
    clips = list(dict.fromkeys(sources))
    index = {clip: i for i, clip in enumerate(clips)}
    rows = np.array([index[s] for s in sources])
    mean = np.stack([probabilities[rows == i].mean(0) for i in range(len(clips))])
    label = np.array([labels[rows == i][0] for i in range(len(clips))])
    return mean, label


def figures(probabilities: np.ndarray, labels: np.ndarray, sources: list[str], classes: int) -> dict:
    clip_probabilities, clip_labels = per_clip(probabilities, labels, sources)
    clip = classification_figures(clip_probabilities, clip_labels, classes)
    window = classification_figures(probabilities, labels, classes)
    return {"clip_accuracy": clip["accuracy"], "clip_macro_f1": clip["macro_f1"], "window_accuracy": window["accuracy"]}


def predict_timed(path: Path, inputs: np.ndarray) -> tuple[np.ndarray, float]:
    """Probabilities window by window at 1 LiteRT thread, and the median CPU time of one window (ms).

    CPU time of the calling thread (XNNPACK runs there at 1 thread), not wall time: on a shared machine the
    wall clock counts the other processes' turns; ``bench``'s wall-clock figure is reported beside it."""
    runner = load_runner(path, threads=1)
    outputs, spent = [], []
    for window in inputs:
        before = time.thread_time()
        outputs.append(runner.predict(window[None]))
        spent.append(time.thread_time() - before)
    return np.concatenate(outputs), float(np.median(spent[1:] if len(spent) > 1 else spent)) * 1e3


def dynamic_range_int8(float_model: bytes) -> bytes:
    """The INT8 recipe the export does not ship, for comparison: INT8 weights and INT8 arithmetic in every layer
    with weights (activations quantized at run time), spectrogram and head float."""
    from ai_edge_quantizer import qtyping, quantizer, recipe_manager

    manager = recipe_manager.RecipeManager()
    manager.add_dynamic_config(regex=".*", operation_name=qtyping.TFLOperationName.ALL_SUPPORTED, num_bits=8)
    keep_float(manager, [FRONT_END_SCOPE, HEAD_SCOPE, f"^{OUTPUT_NAME}$"])
    model_quantizer = quantizer.Quantizer(bytearray(strip_appended_zip(float_model)))
    model_quantizer.load_quantization_recipe(manager.get_quantization_recipe())
    with _quiet():
        return bytes(model_quantizer.quantize(enable_progress_report=False).quantized_model)


def notes(flops: int, fp32_cpu_ms: float, estimates: list[dict], wall_ms: float) -> list[str]:
    """How to read the table, from the measured figures."""
    load = os.getloadavg()[0]
    phones = "; ".join(f"{e['device']}: ~{e['estimated_ms_per_window']:.0f} ms" for e in estimates)
    return [
        f"Latency: `cpu_ms_per_window_1_thread` is the median CPU time of one 3 s window at 1 LiteRT thread "
        f"(thread CPU time, robust to other processes); `latency_ms_1_thread` is `bench`'s wall-clock p50, which on "
        f"this shared 2-core machine (load average {load:.0f} during the run) counts other processes' turns too "
        f"({wall_ms:.0f} ms for the FP32 file vs {fp32_cpu_ms:.0f} ms of its own CPU time).",
        f"Phone latency, ESTIMATED (no phone here): {flops / 1e9:.2f} GFLOPs per window (convolutions, dense "
        f"layers, FFTs, counted from the graph) divided by each device class's sustained GFLOPS "
        f"(`nightscan_edge.bench.devices`, cited measurements of MobileNet/EfficientNet): {phones}. BirdNET runs "
        "below those networks' efficiency here (its 58 sigmoids and 69 multiplications of swish and "
        "squeeze-excitation, and the float spectrogram, do no multiply-adds), so read these as lower bounds; "
        "one window covers 3 s of audio, so even several times these keep up with real time.",
        "FP16 and INT8 store weights only; LiteRT computes in float (FP16 weights are dequantized at load, INT8 "
        "per-channel weights by DEQUANTIZE), so their latency is the FP32 file's and their gain is the download "
        "and storage size. The dynamic-range row computes convolutions in INT8 (activations quantized at run time); "
        "it is measured here for comparison, not shipped: the export ships INT8 weights (`int8_weights` says why).",
    ]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run", type=Path, help="a trained birdnet_head run folder with a test split")
    parser.add_argument("--export", type=Path, default=None, help="an existing export folder of the run")
    parser.add_argument("--iterations", type=int, default=30, help="timed batch-1 inferences per file")
    parser.add_argument("--static-int8", type=Path, default=None, help="a static INT8 file to compare (not shipped)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = time.perf_counter()

    if args.export is None:
        files = export_birdnet_phone(args.run, int8=True, progress=lambda line: print(line, flush=True))
        export_dir = files.report.out_dir
        export_seconds = files.report.seconds
    else:
        export_dir, export_seconds = args.export, None
    paths = {precision: export_dir / name for precision, name in FILES.items() if (export_dir / name).is_file()}
    rejected = {p: export_dir / "rejected" / FILES[p] for p in FILES if (export_dir / "rejected" / FILES[p]).is_file()}
    manifest = load_manifest(paths["fp32"])
    trained = load_trained_model(args.run)
    classes = len(trained.labels)

    inputs, labels, sources = load_run_samples(args.run, "test")
    print(f"test split: {len(set(sources))} clips, {len(inputs)} windows", flush=True)
    server = torch_predict(ExportableClassifier(trained.model, manifest.temperature), inputs)
    server_bytes = locate_birdnet().model.stat().st_size + trained.checkpoint_path.stat().st_size
    rows = [
        {
            "model": "server head (BirdNET FP32 in LiteRT + PyTorch head)",
            "file_mb": round(server_bytes / 1e6, 2),
            **{k: round(v, 2) for k, v in figures(server, labels, sources, classes).items()},
        }
    ]

    with open_source(export_dir, run_dir=args.run) as source:
        small = Samples(inputs[:8], labels[:8], "first 8 test windows (latency only)")
        bench = benchmark(
            source,
            BenchOptions(threads=[1], warmup=5, iterations=args.iterations, throughput_batch=1),
            progress=False,
            samples=small,
        )
    latency = {a.name: a.latency_at(1) for a in bench.artifacts}
    eager = next(a for a in bench.artifacts if a.is_baseline)
    rows[0]["latency_ms_1_thread"] = round(latency[eager.name].p50_ms, 1) if latency.get(eager.name) else None
    # (the server head's CPU time is BirdNET's FP32 graph plus a 7-output matrix product: the FP32 phone file's)

    candidates = {f"phone file {p} ({path.name})": path for p, path in paths.items()}
    candidates.update({f"INT8 static, rejected by the gate ({q.name})": q for q in rejected.values()})
    if args.static_int8 is not None:
        candidates[f"INT8 static (not shipped: {args.static_int8.name})"] = args.static_int8
    scratch = tempfile.TemporaryDirectory(prefix="birdnet-phone-")
    dynamic = Path(scratch.name) / "model_int8_dynamic.tflite"
    dynamic.write_bytes(dynamic_range_int8(paths["fp32"].read_bytes()))
    FORMATS["tflite"].embed_manifest(dynamic, {**read_manifest(paths["int8"]), "file": dynamic.name})
    candidates["INT8 dynamic range (not shipped)"] = dynamic
    cpu_ms: dict[str, float] = {}
    for name, path in candidates.items():
        probabilities, cpu_ms[name] = predict_timed(path, inputs)
        difference = np.abs(probabilities - server)
        agreement = probabilities.argmax(1) == server.argmax(1)
        stats = latency.get(path.name) if path.parent == export_dir else None
        rows.append(
            {
                "model": name,
                "file_mb": round(path.stat().st_size / 1e6, 2),
                **{k: round(v, 2) for k, v in figures(probabilities, labels, sources, classes).items()},
                "cpu_ms_per_window_1_thread": round(cpu_ms[name], 1),
                "latency_ms_1_thread": round(stats.p50_ms, 1) if stats else None,
                "top1_agreement_with_server_pct": round(100 * float(np.mean(agreement)), 2),
                "max_abs_prob_diff_vs_server": float(f"{difference.max():.2e}"),
            }
        )
        print(rows[-1], flush=True)
    scratch.cleanup()

    flops = graph_flops(paths["fp32"].read_bytes())
    fp32_cpu_ms = cpu_ms[next(iter(candidates))]
    estimates = [
        {
            "device": device.title,
            "estimated_ms_per_window": round(device.estimate_ms(flops), 1),
            "sustained_gflops": device.sustained_gflops,
            "basis": device.basis,
        }
        for device in list_device_classes()
        if device.name.startswith(("android", "iphone"))
    ]
    result = {
        "title": "BirdNET on the phone: BirdNET V2.4's LiteRT graph up to the embedding + the trained head",
        "date": dt.date.today().isoformat(),
        "machine": f"{cpu_name()} ({platform.machine()}, {bench.host.platform}); LiteRT at 1 thread",
        "command": " ".join(["python benchmarks/birdnet_phone.py", *argv]),
        "setup": (
            f"Run `{trained.run_id}` (birdnet_head, {classes} classes, linear head) on animal-sounds with "
            f"`--set data.test_fraction=0.2`; test split {len(set(sources))} clips / {len(inputs)} windows of 3 s "
            "(50 % overlap). Clip accuracy averages the window probabilities of a clip. The server head is BirdNET's "
            "FP32 file in LiteRT + the PyTorch head at the export's temperature "
            f"({manifest.temperature:.3f}); its size is BirdNET's 52 MB file + the head checkpoint."
        ),
        "figures": [{key: value for key, value in row.items() if value is not None} for row in rows],
        "graph": {
            "float_constants": constant_count(paths["fp32"].read_bytes()),
            "flops_per_window": flops,
            "operators": "BirdNET V2.4's 376 minus its classifier, plus the head's FULLY_CONNECTED and a SOFTMAX",
        },
        "phone_estimates": estimates,
        "effective_gflops_here_1_thread": round(flops / (fp32_cpu_ms / 1e3) / 1e9, 2),
        "load_average_during_run": round(os.getloadavg()[0], 1),
        "export_seconds": export_seconds,
        "seconds": round(time.perf_counter() - started, 1),
        "notes": notes(flops, fp32_cpu_ms, estimates, latency[paths["fp32"].name].p50_ms),
    }
    write_json_atomic(args.out, result)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
