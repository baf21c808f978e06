"""Decoding: formats, resampling, downmix, padding, streaming, and clear errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

from nightscan_edge.audio import AudioDecodeError, decode_audio, fit_to_length, iter_audio_blocks
from nightscan_edge.audio.decode import window_starts
from tests.conftest import write_tone


@pytest.mark.parametrize(
    "suffix,subtype", [(".wav", "PCM_16"), (".flac", "PCM_16"), (".ogg", "VORBIS"), (".mp3", "MPEG_LAYER_III")]
)
def test_formats_resample_and_downmix(tmp_path, suffix, subtype):
    path = write_tone(tmp_path / f"tone{suffix}", 1000, 1.0, 44100, channels=2, subtype=subtype)
    audio = decode_audio(path, 22050)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert abs(audio.size - 22050) < 2500  # mp3 adds encoder padding
    spectrum = np.abs(np.fft.rfft(audio[:16384]))
    peak_hz = np.argmax(spectrum) * 22050 / 16384
    assert abs(peak_hz - 1000) < 10


def test_bad_files_give_clear_errors(tmp_path):
    (tmp_path / "notes.wav").write_text("this is not audio")
    with pytest.raises(AudioDecodeError, match="not decodable audio"):
        decode_audio(tmp_path / "notes.wav", 22050)
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(AudioDecodeError):
        decode_audio(tmp_path / "empty.wav", 22050)
    import soundfile

    soundfile.write(str(tmp_path / "zero.wav"), np.zeros(0, dtype=np.float32), 22050)
    with pytest.raises(AudioDecodeError, match="no samples"):
        decode_audio(tmp_path / "zero.wav", 22050)


def test_streaming_equals_one_shot(tmp_path):
    path = write_tone(tmp_path / "long.wav", 440, 5.0, 48000)
    blocks = list(iter_audio_blocks(path, 22050, block_seconds=1.0))
    assert len(blocks) >= 5
    streamed = np.concatenate(blocks)
    whole = decode_audio(path, 22050)
    assert abs(streamed.size - whole.size) <= 1
    n = min(streamed.size, whole.size)
    assert np.abs(streamed[1000 : n - 1000] - whole[1000 : n - 1000]).max() < 1e-3


def test_fit_to_length_loops_or_zero_pads():
    clip = np.arange(1, 4, dtype=np.float32)
    assert fit_to_length(clip, 7, "loop").tolist() == [1, 2, 3, 1, 2, 3, 1]
    assert fit_to_length(clip, 5, "zero").tolist() == [1, 2, 3, 0, 0]
    assert fit_to_length(np.arange(10, dtype=np.float32), 4).tolist() == [0, 1, 2, 3]


def test_window_starts_cover_the_clip():
    assert window_starts(100, 200, 50) == [0]
    assert window_starts(250, 100, 100) == [0, 100, 150]
