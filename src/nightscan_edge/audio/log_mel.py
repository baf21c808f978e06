"""``LogMel``: raw mono waveform -> log-mel spectrogram, as a plain ``nn.Module``.

The front-end is part of the model (OpenSoundscape's ``save_onnx`` idea): every exported audio model takes
the raw waveform, so the phone computes nothing by hand and cannot compute it differently. To export to
ONNX, LiteRT, Core ML and ExecuTorch alike it uses only pad, slice, reshape, transpose, concat, matmul and
elementwise ops -- no ``torch.stft`` and no complex tensors.

The DFT is a three-stage Cooley-Tukey factorisation, n_fft = N1 * P * Q, computed with small real matrices
instead of one dense ``n_fft x n_fft`` kernel (4 MB for n_fft=1024, more than a whole ultralight model):

1. a length-N1 DFT of the real, windowed frame, one matrix per n2 in [0, P * Q): the Hann window and the
   twiddle factors of the next stage are folded into those matrices, so no elementwise pass is left;
2. a length-P DFT, one matrix per q (again with its twiddle factors folded in);
3. a length-Q DFT, one matrix shared by all.

Every stage is one batched matmul over a layout the previous stage wrote, so nothing is sliced apart into
real and imaginary parts. The input is real, so only the N1 // 2 + 1 first-stage bins are computed: the
others are complex conjugates, with the same power. The mel product is split into groups of adjacent bands,
each over the part of the spectrum it touches (the dense product is > 90 % zeros). For n_fft=1024 the
constants take ~0.23 MB.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nightscan_edge.audio.mel_filters import mel_filterbank
from nightscan_edge.spec import AudioSpec

_AMIN = 1e-10
# Each mel group adds a Slice and a MatMul node. Four cut the default spec's mel multiply-adds 3.3x (21k
# instead of 70k per frame); more groups measured no faster.
_MEL_GROUPS = 4


def _split_factor(n: int) -> int:
    """Largest factor of ``n`` not above sqrt(n) (1 when ``n`` is prime: a direct DFT)."""
    for candidate in range(int(math.isqrt(n)), 0, -1):
        if n % candidate == 0:
            return candidate
    return 1


def _as_real(angle: np.ndarray) -> np.ndarray:
    """``exp(-i angle)`` as the real 2x2 blocks that multiply (re, im) rows: shape ``(..., 2, 2)`` (out, in)."""
    cos, sin = np.cos(angle), np.sin(angle)
    return np.stack([np.stack([cos, sin], -1), np.stack([-sin, cos], -1)], -2)


def _first_stage(n_fft: int, n1: int, p: int, q: int) -> np.ndarray:
    """``(q, p, 2 * K1, n1)``: windowed length-N1 DFT times the twiddle ``W_N^(n2 k1)``, per n2 = p * Q + q.

    Rows are (re k1 | im k1) for k1 <= N1 // 2; together the twiddled rows are the plain DFT kernel at bin k1
    restricted to the samples n = n1 * N2 + n2.
    """
    n2 = np.arange(p)[None, :] * q + np.arange(q)[:, None]  # (q, p)
    n = np.arange(n1) * (p * q) + n2[..., None]  # (q, p, n1)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann (scipy get_window fftbins=True)
    angle = 2 * np.pi * np.arange(n1 // 2 + 1)[:, None] * n[..., None, :] / n_fft  # (q, p, k1, n1)
    return np.concatenate([np.cos(angle), -np.sin(angle)], axis=-2) * window[..., None, :]


def _second_stage(p: int, q: int) -> np.ndarray:
    """``(q, 2 * P, 2 * P)``: length-P DFT over p times the twiddle ``W_(P*Q)^(q k2a)``.

    Rows are (out re/im, k2a), columns (p, in re/im): the layout the first stage writes for each q.
    """
    k2a = np.arange(p)
    angle = 2 * np.pi * (np.outer(k2a, k2a)[None] / p + k2a[None, :, None] * np.arange(q)[:, None, None] / (p * q))
    return _as_real(angle).transpose(0, 3, 1, 2, 4).reshape(q, 2 * p, 2 * p)


def _third_stage(q: int, k2b: np.ndarray) -> np.ndarray:
    """``(2 * len(k2b), 2 * Q)``: length-Q DFT over q for the kept k2b; rows (out, k2b), columns (q, in)."""
    return _as_real(2 * np.pi * np.outer(k2b, np.arange(q)) / q).transpose(2, 0, 1, 3).reshape(2 * len(k2b), 2 * q)


def _spectrum_blocks(n_fft: int, n1: int, p: int, q: int) -> tuple[np.ndarray, np.ndarray]:
    """Which k2b blocks of the output to compute, in which order, and the bin of each output row.

    Output row (k2b, k2a, k1) is bin k = k1 + N1 * (k2a + P * k2b), or n_fft - k above Nyquist (same power).
    A block whose bins all come earlier is not computed (for n_fft=1024 each block holds bins of its own).
    The others are ordered by their lowest bin, so that a mel band's bins lie in a few adjacent blocks.
    """
    k = np.arange(n1 // 2 + 1) + n1 * (np.arange(p)[:, None] + p * np.arange(q)[:, None, None])  # (k2b, k2a, k1)
    bins = np.minimum(k, n_fft - k).reshape(q, -1)
    covered = np.zeros(n_fft // 2 + 1, dtype=bool)
    kept_blocks = []
    for block in range(q):
        if not covered[bins[block]].all():
            kept_blocks.append(block)
            covered[bins[block]] = True
    kept = np.array(sorted(kept_blocks, key=lambda block: bins[block].min()))
    return kept, bins[kept].reshape(-1)


def _band_blocks(mel: np.ndarray, row_bins: np.ndarray, block_rows: int) -> list[tuple[int, int] | None]:
    """Per band, the shortest run of blocks ``(first, last)`` that holds each of its bins (None: empty band)."""
    blocks = len(row_bins) // block_rows
    holds = np.zeros((mel.shape[1], blocks), dtype=bool)
    holds[row_bins, np.arange(len(row_bins)) // block_rows] = True
    next_block = np.full((mel.shape[1], blocks + 1), 2 * blocks)  # first block >= j holding the bin
    for j in range(blocks - 1, -1, -1):
        next_block[:, j] = np.where(holds[:, j], j, next_block[:, j + 1])
    runs: list[tuple[int, int] | None] = []
    for weights in mel:
        bins = np.flatnonzero(weights)
        if bins.size == 0:
            runs.append(None)
            continue
        last = next_block[bins, :blocks].max(axis=0)
        first = int(np.argmin(last - np.arange(blocks)))
        runs.append((first, int(last[first])))
    return runs


def _span(runs: list[tuple[int, int] | None]) -> tuple[int, int]:
    """First and last block used by any of ``runs`` ((0, 0) when all bands are empty)."""
    present = [run for run in runs if run is not None]
    return (min(r[0] for r in present), max(r[1] for r in present)) if present else (0, 0)


def _band_groups(runs: list[tuple[int, int] | None], groups: int) -> list[tuple[int, int]]:
    """Split the bands into ``groups`` runs of adjacent bands minimising sum(bands x blocks) (dynamic programming)."""
    n = len(runs)
    groups = min(groups, n)
    firsts = np.array([run[0] if run else n * n for run in runs])
    lasts = np.array([run[1] if run else -n * n for run in runs])
    # size[begin, stop]: cost of one group of bands [begin, stop); inf where begin >= stop
    size = np.full((n + 1, n + 1), np.inf)
    for stop in range(1, n + 1):
        first = np.minimum.accumulate(firsts[:stop][::-1])[::-1]
        last = np.maximum.accumulate(lasts[:stop][::-1])[::-1]
        size[:stop, stop] = (stop - np.arange(stop)) * np.maximum(last - first + 1, 1)
    best = np.full(n + 1, np.inf)
    best[0] = 0
    starts = []
    for _ in range(groups):
        cost = best[:, None] + size
        starts.append(np.argmin(cost, axis=0))
        best = cost[starts[-1], np.arange(n + 1)]
    bounds, stop = [], n
    for start in reversed(starts):
        bounds.append((int(start[stop]), stop))
        stop = int(start[stop])
    return bounds[::-1]


def _mel_groups(mel: np.ndarray, row_bins: np.ndarray, block_rows: int) -> list[tuple[int, int, np.ndarray]]:
    """``(first_row, stop_row, weights)`` per group of bands; ``weights @ power[first_row:stop_row]`` gives the group.

    A bin present in several rows (the conjugate-symmetric duplicates) is weighted once, in the band's own blocks.
    """
    runs = _band_blocks(mel, row_bins, block_rows)
    out = []
    for begin, stop in _band_groups(runs, _MEL_GROUPS):
        first, last = _span(runs[begin:stop])
        offset = first * block_rows
        rows = row_bins[offset : (last + 1) * block_rows]
        weights = np.zeros((stop - begin, len(rows)))
        for band in range(begin, stop):
            run = runs[band]
            if run is None:
                continue
            lo, hi = run[0] * block_rows - offset, (run[1] + 1) * block_rows - offset
            held, row = np.unique(rows[lo:hi], return_index=True)  # first row of each bin in the band's blocks
            bins = np.flatnonzero(mel[band])
            weights[band - begin, lo + row[np.searchsorted(held, bins)]] = mel[band, bins]
        out.append((offset, offset + len(rows), weights))
    return out


class LogMel(nn.Module):
    """Centred STFT (zero padding, periodic Hann) -> power -> Slaney mel -> dB, matching librosa's
    ``power_to_db(melspectrogram(..., center=True, pad_mode='constant'), ref=1.0, amin=1e-10, top_db)``.

    Input ``(batch, clip_samples)`` float32; output ``(batch, 1, n_mels, num_frames)``.
    """

    # Buffers (register_buffer), named here so they type as tensors; mel_basis_<group> are read by name.
    stage1: torch.Tensor
    stage2: torch.Tensor
    stage3: torch.Tensor
    _frame_index: torch.Tensor

    def __init__(self, spec: AudioSpec) -> None:
        super().__init__()
        self.spec = spec
        n_fft, hop = spec.n_fft, spec.hop_length
        self.n_fft, self.hop = n_fft, hop
        self.num_frames = spec.num_frames
        self.n1 = _split_factor(n_fft)
        self.n2 = n_fft // self.n1
        self.p = _split_factor(self.n2)
        self.q = self.n2 // self.p
        self.k1_count = self.n1 // 2 + 1

        def constant(name: str, values: np.ndarray) -> None:
            self.register_buffer(name, torch.tensor(values, dtype=torch.float32), persistent=False)

        constant("stage1", _first_stage(n_fft, self.n1, self.p, self.q).reshape(self.n2, 2 * self.k1_count, self.n1))
        constant("stage2", _second_stage(self.p, self.q))
        k2b, row_bins = _spectrum_blocks(n_fft, self.n1, self.p, self.q)
        self.k2b_count, self.rows = len(k2b), len(row_bins)
        constant("stage3", _third_stage(self.q, k2b))
        mel = mel_filterbank(spec.sample_rate, n_fft, spec.n_mels, spec.f_min, spec.f_max)
        self.mel_rows = []
        for group, (first, stop, weights) in enumerate(_mel_groups(mel, row_bins, self.p * self.k1_count)):
            constant(f"mel_basis_{group}", weights)
            self.mel_rows.append((first, stop))
        # (device and dtype, dense mel basis, Hann window) for ``by_fft``: plain tensors, not buffers, so the
        # exported graph never carries them
        self._fft_constants: tuple[tuple[torch.device, torch.dtype], torch.Tensor, torch.Tensor] | None = None
        # Frames are cut from hop-long chunks when a frame is whole chunks, each a whole number of N2-sample rows.
        self.chunked = n_fft % hop == 0 and hop % self.n2 == 0
        if not self.chunked:  # general hop: gather with a fixed index table
            n2 = np.arange(self.p)[None, :] * self.q + np.arange(self.q)[:, None]
            index = hop * np.arange(self.num_frames) + (self.n2 * np.arange(self.n1)[:, None] + n2[..., None, None])
            self.register_buffer("_frame_index", torch.tensor(index.reshape(-1), dtype=torch.long), persistent=False)

    def frames(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, N2, N1, num_frames)``: sample n1 * N2 + n2 of each centred frame, frames last.

        The first stage contracts n1 with one matrix per n2, so n2 must lead and time must be the column axis.
        """
        # Under tracing (Core ML conversion) the shapes are the example's, fixed by construction: checking
        # them would only make the tracer warn that the branch becomes a constant.
        # torch.jit.is_tracing is public but neither re-exported by name nor annotated in torch's sources.
        tracing: bool = torch.jit.is_tracing()  # type: ignore[attr-defined,no-untyped-call]
        if not tracing and (waveform.dim() != 2 or waveform.shape[-1] != self.spec.clip_samples):
            raise ValueError(f"LogMel expects (batch, {self.spec.clip_samples}) samples; got {tuple(waveform.shape)}")
        half = self.n_fft // 2
        padded = nn.functional.pad(waveform, (half, half))
        if not self.chunked:
            return padded[:, self._frame_index].reshape(-1, self.n2, self.n1, self.num_frames)
        ratio = self.n_fft // self.hop
        chunk_count = self.num_frames + ratio - 1
        if chunk_count * self.hop != self.spec.clip_samples + 2 * half:
            padded = padded[:, : chunk_count * self.hop]
        # Two transposes that ONNX Runtime does fast (one axis moved; then whole time rows moved) instead of
        # one general permutation that it does element by element, ~10x slower.
        chunks = padded.reshape(-1, chunk_count, self.hop).transpose(1, 2)
        chunks = chunks.reshape(-1, self.hop // self.n2, self.p, self.q, chunk_count).permute(0, 3, 2, 1, 4)
        chunks = chunks.reshape(-1, self.n2, self.hop // self.n2, chunk_count)
        return torch.cat([chunks[..., i : i + self.num_frames] for i in range(ratio)], dim=2)

    def power_spectrum(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, rows, num_frames)`` power |STFT|^2.

        Row (k2b, k2a, k1) holds bin k1 + N1 * (k2a + P * k2b), folded below Nyquist (see ``_spectrum_blocks``).
        """
        columns = self.k1_count * self.num_frames
        # (B, (q, p), (re/im, k1), T)
        first = torch.matmul(self.stage1, self.frames(waveform))
        # (B, q, (re/im, k2a), (k1, T))
        second = torch.matmul(self.stage2, first.reshape(-1, self.q, 2 * self.p, columns))
        # (B, (re/im, k2b), (k2a, k1, T))
        third = torch.matmul(self.stage3, second.reshape(-1, 2 * self.q, self.p * columns))
        third = third.reshape(-1, 2, self.rows, self.num_frames)
        return (third * third).sum(dim=1)

    def mel(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, n_mels, num_frames)`` mel power, one matmul per group of bands."""
        power = self.power_spectrum(waveform)
        parts = []
        for group, (first, stop) in enumerate(self.mel_rows):
            rows = power if (first, stop) == (0, self.rows) else power[:, first:stop]
            parts.append(torch.matmul(getattr(self, f"mel_basis_{group}"), rows))
        return torch.cat(parts, dim=1)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        return self.to_db(self.mel(waveform))

    def by_fft(self, waveform: torch.Tensor) -> torch.Tensor:
        """The same spectrogram as ``forward`` (within float rounding), by ``torch.stft`` and one dense mel product.

        For training only, where nothing is exported: the FFT is 2-5x cheaper on a CPU than the matmul DFT the
        exporters need, and the log-mel is most of a small model's training step. Tests hold the two equal.
        """
        key = (waveform.device, waveform.dtype)
        if self._fft_constants is None or self._fft_constants[0] != key:
            spec = self.spec
            mel = mel_filterbank(spec.sample_rate, self.n_fft, spec.n_mels, spec.f_min, spec.f_max)
            basis = torch.tensor(mel, dtype=waveform.dtype, device=waveform.device)
            window = torch.hann_window(self.n_fft, periodic=True, dtype=waveform.dtype, device=waveform.device)
            self._fft_constants = (key, basis, window)
        _, basis, window = self._fft_constants
        if waveform.dim() != 2 or waveform.shape[-1] != self.spec.clip_samples:
            raise ValueError(f"LogMel expects (batch, {self.spec.clip_samples}) samples; got {tuple(waveform.shape)}")
        stft = torch.stft(
            waveform, self.n_fft, self.hop, window=window, center=True, pad_mode="constant", return_complex=True
        )
        return self.to_db(torch.matmul(basis, stft.real.square() + stft.imag.square()))

    def to_db(self, mel: torch.Tensor) -> torch.Tensor:
        """``(B, n_mels, frames)`` mel power -> ``(B, 1, n_mels, frames)`` dB, floored as librosa floors it."""
        if self.spec.top_db is None:
            floored = torch.clamp(mel, min=_AMIN)
        else:  # max(dB, peak dB - top_db), taken before the log: the log then runs once, on floored values
            peak = mel.amax(dim=(1, 2), keepdim=True)
            floored = torch.maximum(mel, torch.clamp(peak * 10.0 ** (-self.spec.top_db / 10), min=_AMIN))
        return (torch.log(floored) * (10 / math.log(10))).unsqueeze(1)
