"""Audio input: decoding + resampling to mono float32, and the exportable log-mel front-end."""

from nightscan_edge.audio.decode import AudioDecodeError, decode_audio, fit_to_length, iter_audio_blocks
from nightscan_edge.audio.log_mel import LogMel
from nightscan_edge.audio.mel_filters import mel_filterbank

__all__ = ["AudioDecodeError", "decode_audio", "fit_to_length", "iter_audio_blocks", "LogMel", "mel_filterbank"]
