"""LogMel front-end throughput: torch (one batch of clips) vs librosa (clip by clip) on the same clips, and the
FFT form training uses (``LogMel.by_fft``) against the matrix form every export carries.

Run: ``nice .venv/bin/python benchmarks/frontend.py [--clips 32] [--threads 1] [--n-fft 512 --hop 512 --n-mels 32]``

Uses real clips from ../shared/data/animal-sounds when present (decoded, resampled and cut to the
spec's window exactly as training does), generated chirps + noise otherwise. Prints clips/s for both,
the ratio, and the largest dB difference so a speed-up never hides a different spectrogram.
"""

from __future__ import annotations

import argparse
import csv
import time

import numpy as np
import torch

from bench_common import SHARED_DATA
from nightscan_edge.audio import LogMel, decode_audio, fit_to_length
from nightscan_edge.spec import AudioSpec


def load_clips(spec: AudioSpec, count: int) -> tuple[np.ndarray, str]:
    manifest = SHARED_DATA / "animal-sounds" / "manifest.csv"
    if manifest.is_file():
        with manifest.open(newline="") as handle:
            rows = list(csv.DictReader(handle))[:count]
        clips = [
            fit_to_length(
                decode_audio(manifest.parent / row["path"], spec.sample_rate), spec.clip_samples, spec.pad_mode
            )
            for row in rows
        ]
        return np.stack(clips).astype(np.float32), f"{len(clips)} real clips from {manifest.parent}"
    rng = np.random.default_rng(0)
    t = np.arange(spec.clip_samples) / spec.sample_rate
    clips = [
        np.sin(2 * np.pi * (500 + 300 * i) * t * (1 + t)) + 0.05 * rng.standard_normal(t.size) for i in range(count)
    ]
    return np.stack(clips).astype(np.float32), f"{count} generated clips (../shared/data absent)"


def librosa_log_mel(clip: np.ndarray, spec: AudioSpec) -> np.ndarray:
    import librosa

    power = librosa.feature.melspectrogram(
        y=clip,
        sr=spec.sample_rate,
        n_fft=spec.n_fft,
        hop_length=spec.hop_length,
        n_mels=spec.n_mels,
        fmin=spec.f_min,
        fmax=spec.f_max,
        center=True,
        pad_mode="constant",
        power=2.0,
        window="hann",
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=spec.top_db)


def best_seconds(function, repeats: int) -> float:
    """Fastest of ``repeats`` runs (after one warm-up): shared machines only ever add time."""
    function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=32)
    parser.add_argument(
        "--threads", type=int, default=1, help="torch intra-op threads (librosa is single-threaded numpy)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--n-fft", type=int, default=AudioSpec().n_fft)
    parser.add_argument("--hop", type=int, default=AudioSpec().hop_length)
    parser.add_argument("--n-mels", type=int, default=AudioSpec().n_mels)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    spec = AudioSpec(n_fft=args.n_fft, hop_length=args.hop, n_mels=args.n_mels)
    clips, origin = load_clips(spec, args.clips)
    log_mel = LogMel(spec).eval()
    batch = torch.from_numpy(clips)

    def run_torch():
        with torch.inference_mode():
            return log_mel(batch)

    def run_fft():
        with torch.inference_mode():
            return log_mel.by_fft(batch)

    def run_librosa():
        return [librosa_log_mel(clip, spec) for clip in clips]

    torch_s = best_seconds(run_torch, args.repeats)
    fft_s = best_seconds(run_fft, args.repeats)
    librosa_s = best_seconds(run_librosa, args.repeats)
    ours = run_torch().squeeze(1).numpy()
    theirs = np.stack(run_librosa())
    print(
        f"front-end: {spec.n_mels} mels x {spec.num_frames} frames, n_fft {spec.n_fft}, hop {spec.hop_length}, "
        f"{spec.sample_rate} Hz, {spec.clip_seconds:.2f} s clips; {origin}; torch threads {args.threads}"
    )
    print(
        f"torch LogMel (batch of {len(clips)}): {len(clips) / torch_s:8.1f} clips/s "
        f"({1e3 * torch_s / len(clips):.2f} ms/clip)"
    )
    print(
        f"torch LogMel.by_fft (training, batch of {len(clips)}): {len(clips) / fft_s:8.1f} clips/s "
        f"({1e3 * fft_s / len(clips):.2f} ms/clip), {torch_s / fft_s:.2f}x the matrix form; "
        f"max |dB difference| {(run_fft() - run_torch()).abs().max().item():.4f}"
    )
    print(
        f"librosa (clip by clip):   {len(clips) / librosa_s:8.1f} clips/s ({1e3 * librosa_s / len(clips):.2f} ms/clip)"
    )
    print(
        f"ratio torch/librosa throughput: {librosa_s / torch_s:.2f}x; "
        f"max |dB difference| {np.abs(ours - theirs).max():.4f}"
    )


if __name__ == "__main__":
    main()
