"""``LogMel``: raw mono waveform -> log-mel spectrogram, as a plain ``nn.Module``.

The front-end is part of the model (OpenSoundscape's ``save_onnx`` idea): every exported audio model takes
the raw waveform, so the phone computes nothing by hand and cannot compute it differently. To export to
ONNX, LiteRT, Core ML and ExecuTorch alike it uses only pad, slice, reshape, concat, matmul and elementwise
ops -- no ``torch.stft`` and no complex tensors.

The DFT is computed as a two-stage Cooley-Tukey factorisation (n_fft = N1 * N2) with small real matrices,
instead of one dense ``n_fft x n_fft`` DFT kernel: for n_fft=1024 the constants take ~20 KB instead of
4 MB, which matters for models whose whole budget is < 1 MB.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from nightscan_edge.audio.mel_filters import mel_filterbank
from nightscan_edge.spec import AudioSpec

_AMIN = 1e-10


def _split_factor(n: int) -> int:
    """Largest factor of ``n`` not above sqrt(n) (1 when ``n`` is prime: a direct DFT)."""
    for candidate in range(int(math.isqrt(n)), 0, -1):
        if n % candidate == 0:
            return candidate
    return 1


class LogMel(nn.Module):
    """Centred STFT (zero padding, periodic Hann) -> power -> Slaney mel -> dB, matching librosa's
    ``power_to_db(melspectrogram(..., center=True, pad_mode='constant'), ref=1.0, amin=1e-10, top_db)``.

    Input ``(batch, clip_samples)`` float32; output ``(batch, 1, n_mels, num_frames)``.
    """

    def __init__(self, spec: AudioSpec) -> None:
        super().__init__()
        self.spec = spec
        n_fft, hop = spec.n_fft, spec.hop_length
        self.n_fft, self.hop = n_fft, hop
        self.num_frames = spec.num_frames
        self.n1 = _split_factor(n_fft)
        self.n2 = n_fft // self.n1
        self.n_bins = n_fft // 2 + 1

        n = np.arange(n_fft)
        window = 0.5 - 0.5 * np.cos(2 * np.pi * n / n_fft)  # periodic Hann (scipy get_window fftbins=True)
        # Frame sample n = n2_count * n1 + n2 is placed at [n1, n2]; fold the window into that layout.
        self.register_buffer("window", torch.tensor(window.reshape(self.n1, self.n2), dtype=torch.float32), persistent=False)
        k1 = np.arange(self.n1)
        first = -2 * np.pi * np.outer(k1, np.arange(self.n1)) / self.n1  # (k1, n1)
        self.register_buffer("stage1_cos", torch.tensor(np.cos(first), dtype=torch.float32), persistent=False)
        self.register_buffer("stage1_sin", torch.tensor(np.sin(first), dtype=torch.float32), persistent=False)
        twiddle = -2 * np.pi * np.outer(k1, np.arange(self.n2)) / n_fft  # (k1, n2)
        self.register_buffer("twiddle_cos", torch.tensor(np.cos(twiddle), dtype=torch.float32), persistent=False)
        self.register_buffer("twiddle_sin", torch.tensor(np.sin(twiddle), dtype=torch.float32), persistent=False)
        second = -2 * np.pi * np.outer(np.arange(self.n2), np.arange(self.n2)) / self.n2  # (n2, k2)
        self.register_buffer("stage2_cos", torch.tensor(np.cos(second), dtype=torch.float32), persistent=False)
        self.register_buffer("stage2_sin", torch.tensor(np.sin(second), dtype=torch.float32), persistent=False)
        mel = mel_filterbank(spec.sample_rate, n_fft, spec.n_mels, spec.f_min, spec.f_max)
        self.register_buffer("mel_basis_t", torch.tensor(mel.T, dtype=torch.float32), persistent=False)
        if n_fft % hop == 0:
            self._frame_index = None
        else:  # general hop: gather with a fixed index table
            index = np.arange(n_fft)[None, :] + hop * np.arange(self.num_frames)[:, None]
            self.register_buffer("_frame_index_buf", torch.tensor(index.reshape(-1), dtype=torch.long), persistent=False)
            self._frame_index = True

    def frames(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, num_frames, n_fft)`` centred frames (zero padded by n_fft // 2 each side)."""
        if waveform.dim() != 2 or waveform.shape[-1] != self.spec.clip_samples:
            raise ValueError(
                f"LogMel expects (batch, {self.spec.clip_samples}) samples; got {tuple(waveform.shape)}"
            )
        half = self.n_fft // 2
        padded = nn.functional.pad(waveform, (half, half))
        batch = waveform.shape[0]
        if self._frame_index is None:
            ratio = self.n_fft // self.hop
            chunk_count = self.num_frames + ratio - 1
            chunks = padded[:, : chunk_count * self.hop].reshape(batch, chunk_count, self.hop)
            return torch.cat([chunks[:, i : i + self.num_frames, :] for i in range(ratio)], dim=-1)
        gathered = padded[:, self._frame_index_buf]
        return gathered.reshape(batch, self.num_frames, self.n_fft)

    def power_spectrum(self, waveform: torch.Tensor) -> torch.Tensor:
        """``(B, L)`` -> ``(B, num_frames, n_fft // 2 + 1)`` power |STFT|^2."""
        frames = self.frames(waveform)
        batch = frames.shape[0]
        x = frames.reshape(batch, self.num_frames, self.n1, self.n2) * self.window
        # stage 1: DFT of length N1 over n1 (real input)
        a_re = torch.matmul(self.stage1_cos, x)
        a_im = torch.matmul(self.stage1_sin, x)
        # twiddle factors W_N^(n2 k1)
        b_re = a_re * self.twiddle_cos - a_im * self.twiddle_sin
        b_im = a_re * self.twiddle_sin + a_im * self.twiddle_cos
        # stage 2: DFT of length N2 over n2 -> (B, T, k1, k2)
        c_re = torch.matmul(b_re, self.stage2_cos) - torch.matmul(b_im, self.stage2_sin)
        c_im = torch.matmul(b_re, self.stage2_sin) + torch.matmul(b_im, self.stage2_cos)
        # frequency k = k1 + N1 * k2: put k2 first, then flatten
        power = (c_re * c_re + c_im * c_im).transpose(-1, -2).reshape(batch, self.num_frames, self.n_fft)
        return power[..., : self.n_bins]

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(self.power_spectrum(waveform), self.mel_basis_t)  # (B, T, n_mels)
        log_mel = 10.0 * torch.log10(torch.clamp(mel, min=_AMIN))
        if self.spec.top_db is not None:
            peak = log_mel.amax(dim=(1, 2), keepdim=True)
            log_mel = torch.maximum(log_mel, peak - self.spec.top_db)
        return log_mel.transpose(1, 2).unsqueeze(1)
