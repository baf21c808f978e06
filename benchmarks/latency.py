"""Per-runtime latency of the three seed models vs PyTorch eager and vs the FLOPs-bound estimate.

Run: ``nice .venv/bin/python benchmarks/latency.py [--formats onnx,tflite,executorch] [--threads 1] [--int8]``

Untrained weights are enough: latency does not depend on the weights' values. Each model is saved as a
standalone checkpoint, exported with ``export_run`` and measured with the same code as
``nightscan-edge bench`` (batch 1, after warm-up, in each file's real runtime; audio = raw waveform ->
probabilities). Printed ratios:

- ``eager/runtime``: how many times faster the exported file runs than PyTorch eager (> 1 = faster);
- ``measured/ideal``: p50 over ``FLOPs / GEMM peak`` of this host measured in the same run (1 = compute-bound).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

from nightscan_edge.bench import BenchOptions, run_bench
from nightscan_edge.checkpoint import save_standalone_checkpoint
from nightscan_edge.models import create_model

SEED_MODELS = {"ultralight_audio": 7, "lightweight_audio": 7, "mobilenet_v3_small_photo": 6}


def export_untrained(model_name: str, num_classes: int, root: Path, formats: list[str], int8: bool) -> Path:
    from nightscan_edge.export import export_run

    run_dir = root / model_name
    model = create_model(model_name, num_classes)
    labels = [f"class_{i}" for i in range(num_classes)]
    save_standalone_checkpoint(run_dir / "best.ckpt", model, labels, run_id=f"untrained-{model_name}")
    start = time.perf_counter()
    report = export_run(run_dir, formats, int8=int8)
    print(
        f"{model_name}: exported {', '.join(formats)}{' + int8' if int8 else ''} in {time.perf_counter() - start:.1f} s"
        f" -> {getattr(report, 'export_dir', run_dir / 'exports')}"
    )
    return run_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(SEED_MODELS), help="comma-separated seed models")
    parser.add_argument("--formats", default="onnx,tflite,executorch")
    parser.add_argument("--threads", default="1", help="comma-separated thread counts (0 = all cores)")
    parser.add_argument("--int8", action="store_true", help="also export and time INT8 files")
    parser.add_argument("--iterations", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    args = parser.parse_args()
    threads = tuple(int(t) for t in args.threads.split(","))
    options = BenchOptions(threads=threads, warmup=args.warmup, iterations=args.iterations, throughput_iterations=2)
    rows = []
    with tempfile.TemporaryDirectory(prefix="nightscan-latency-") as root:
        for model_name in args.models.split(","):
            run_dir = export_untrained(
                model_name, SEED_MODELS[model_name], Path(root), args.formats.split(","), args.int8
            )
            result = run_bench(run_dir, options, progress=False)
            gflops = ", ".join(f"{g:.1f} GFLOPS @{t} thr" for t, g in result.host.gemm_gflops.items())
            print(f"{model_name}: {result.total_flops / 1e6:.1f} MFLOPs per inference; host GEMM peak {gflops}")
            eager = next((a for a in result.artifacts if a.is_baseline and a.status == "ok"), None)
            for artifact in result.artifacts:
                if artifact.status != "ok":
                    rows.append((model_name, artifact.name, "-", "-", "-", "-", artifact.error or "failed"))
                    continue
                for stats in artifact.latency:
                    reference = eager.latency_at(stats.threads) if eager else None
                    speed_up = f"{reference.p50_ms / stats.p50_ms:.2f}x" if reference else "-"
                    rows.append(
                        (
                            model_name,
                            artifact.name,
                            str(stats.threads),
                            f"{stats.p50_ms:.2f}",
                            speed_up,
                            f"{stats.measured_over_ideal:.1f}x",
                            f"ideal {stats.ideal_ms:.2f} ms",
                        )
                    )
    header = ("model", "file", "threads", "p50 ms", "eager/runtime", "measured/ideal", "note")
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    print()
    for row in [header] + rows:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=False)))
    print(f"\nhost: torch {torch.__version__}, {torch.get_num_threads()} torch threads available")


if __name__ == "__main__":
    main()
