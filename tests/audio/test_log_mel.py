"""LogMel against librosa (independent oracle) on generated signals and real clips."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nightscan_edge.audio import LogMel, decode_audio, fit_to_length, mel_filterbank
from nightscan_edge.spec import AudioSpec

librosa = pytest.importorskip("librosa")


def librosa_log_mel(signal: np.ndarray, spec: AudioSpec) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=signal,
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
        dtype=np.float64 if signal.dtype == np.float64 else np.float32,
    )
    return librosa.power_to_db(power, ref=1.0, amin=1e-10, top_db=spec.top_db)


def generated_signals(spec: AudioSpec) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    t = np.arange(spec.clip_samples) / spec.sample_rate
    nyquist = spec.sample_rate / 2
    start_hz = max(spec.f_min, nyquist / 50)  # keep the energy inside the mel range (bats: 15-96 kHz)
    chirp = np.sin(2 * np.pi * (start_hz + (nyquist / 2 - start_hz) / t[-1] / 2 * t) * t)
    return [
        0.3 * chirp,
        0.1 * rng.standard_normal(spec.clip_samples),
        0.5 * np.sin(2 * np.pi * (start_hz * 2) * t) * (t < t[-1] / 2),  # tone then silence: exercises top_db floor
    ]


@pytest.mark.parametrize(
    "spec",
    [
        AudioSpec(),
        AudioSpec(sample_rate=16000, clip_samples=16000, n_fft=512, hop_length=160, n_mels=64, f_min=50, f_max=7600),
        AudioSpec(sample_rate=192000, clip_samples=96000, n_fft=1024, hop_length=256, n_mels=96, f_min=15000),
    ],
    ids=["default", "16k-hop160", "bats-192k"],
)
def test_matches_librosa_in_float64(spec):
    """Same maths as librosa: <= 1e-3 dB everywhere when both compute in float64."""
    log_mel = LogMel(spec).double()
    for signal in generated_signals(spec):
        ours = log_mel(torch.from_numpy(signal)[None]).squeeze(0).squeeze(0).numpy()
        theirs = librosa_log_mel(signal, spec)
        assert ours.shape == theirs.shape == (spec.n_mels, spec.num_frames)
        assert np.abs(ours - theirs).max() <= 1e-3


@pytest.mark.parametrize(
    "spec",
    [
        AudioSpec(),
        AudioSpec(n_fft=512, hop_length=512, n_mels=16),
        AudioSpec(sample_rate=16000, clip_samples=16000, n_fft=512, hop_length=160, n_mels=64, f_min=50, f_max=7600),
        AudioSpec(n_fft=1024, hop_length=256, n_mels=64),
    ],
    ids=["default", "nfft512-hop512", "16k-hop160", "hop256"],
)
def test_the_training_fft_form_equals_the_exported_matmul_form(spec):
    """``by_fft`` (training) gives the values of ``forward`` (what is exported) in float32, the training dtype:
    <= 2e-3 dB everywhere (float32 rounding of two sums in different orders), equal at the median."""
    log_mel = LogMel(spec)
    signals = torch.from_numpy(np.stack(generated_signals(spec))).float()
    difference = (log_mel.by_fft(signals) - log_mel(signals)).abs()
    assert difference.max() <= 2e-3 and difference.median() <= 1e-5
    assert not any("fft" in name for name, _ in log_mel.named_buffers())  # nothing extra reaches an export
    with pytest.raises(ValueError, match="LogMel expects"):
        log_mel.by_fft(signals[:, :100])


def test_float32_matches_librosa_within_float_precision():
    spec = AudioSpec()
    log_mel = LogMel(spec)
    for signal in generated_signals(spec):
        signal32 = signal.astype(np.float32)
        ours = log_mel(torch.from_numpy(signal32)[None])[0, 0].numpy()
        theirs = librosa_log_mel(signal32, spec)
        # float32 sums over 1024 samples: ~1e-6 relative, i.e. a few 1e-5 dB where the energy is
        assert np.abs(ours - theirs).max() <= 2e-2
        assert np.median(np.abs(ours - theirs)) <= 1e-3


def test_real_clips_match_librosa(animal_sounds):
    spec = AudioSpec()
    log_mel = LogMel(spec).double()
    import csv

    rows = list(csv.DictReader(open(animal_sounds / "manifest.csv")))
    by_label = {}
    for row in rows:
        by_label.setdefault(row["label"], row["path"])
    for relative in by_label.values():
        signal = fit_to_length(decode_audio(animal_sounds / relative, spec.sample_rate), spec.clip_samples).astype(
            np.float64
        )
        ours = log_mel(torch.from_numpy(signal)[None])[0, 0].numpy()
        assert np.abs(ours - librosa_log_mel(signal, spec)).max() <= 1e-3


def test_mel_filterbank_matches_librosa():
    ours = mel_filterbank(22050, 1024, 128, 0.0, None)
    theirs = librosa.filters.mel(sr=22050, n_fft=1024, n_mels=128, fmin=0.0, fmax=None)
    np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_default_spec_gives_128_by_128():
    spec = AudioSpec()
    assert spec.spectrogram_shape == (1, 128, 128)
    assert spec.clip_seconds == pytest.approx(2.949, abs=1e-3)
    out = LogMel(spec)(torch.zeros(3, spec.clip_samples))
    assert out.shape == (3, 1, 128, 128)


def test_front_end_is_small():
    constants = sum(b.numel() for b in LogMel(AudioSpec()).buffers())
    # three small DFT stages + the grouped mel matrix (~226 KB); a dense n_fft x n_fft DFT kernel alone is 4 MB
    assert constants * 4 < 300_000


def test_wrong_length_is_a_clear_error():
    with pytest.raises(ValueError, match=r"expects \(batch, 65024\) samples"):
        LogMel(AudioSpec())(torch.zeros(1, 1000))


@pytest.mark.parametrize("bad", [dict(f_min=12000), dict(hop_length=2048), dict(sample_rate=0)])
def test_invalid_spec(bad):
    with pytest.raises(ValueError):
        AudioSpec(**bad)
