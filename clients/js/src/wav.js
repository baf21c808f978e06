/**
 * WAV decoding and encoding, so an app can feed a recorded `.wav` straight in and post audio to the server.
 *
 * Decoding stays the app's job for other formats (use the platform decoder and pass PCM). Supported here:
 * PCM 8/16/24/32-bit integer and IEEE float 32/64-bit, plain or WAVE_FORMAT_EXTENSIBLE, any channel count
 * (downmixed by mean, as the Python side does). Integer samples are scaled like libsndfile (int16 / 32768),
 * so a PCM16 file gives the same floats in JS and in Python's `soundfile`.
 */

import { asBytes } from './bytes.js';

const FORMAT_PCM = 1;
const FORMAT_IEEE_FLOAT = 3;
const FORMAT_EXTENSIBLE = 0xfffe;

export class WavFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = 'WavFormatError';
  }
}

function fourCC(view, offset) {
  return String.fromCharCode(view.getUint8(offset), view.getUint8(offset + 1), view.getUint8(offset + 2), view.getUint8(offset + 3));
}

/**
 * Decode WAV bytes to mono float32 PCM.
 * @param {Uint8Array | ArrayBuffer} data
 * @returns {{samples: Float32Array, sampleRate: number, channels: number}}
 */
export function decodeWav(data) {
  const bytes = asBytes(data);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 12 || fourCC(view, 0) !== 'RIFF' || fourCC(view, 8) !== 'WAVE') {
    throw new WavFormatError('not a WAV file (no RIFF/WAVE header); decode other formats in the app and pass PCM samples');
  }
  let format = null;
  let pcm = null;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = fourCC(view, offset);
    const size = view.getUint32(offset + 4, true);
    const body = offset + 8;
    if (id === 'fmt ') {
      if (size < 16 || body + 16 > bytes.length) throw new WavFormatError('WAV fmt chunk is truncated');
      let code = view.getUint16(body, true);
      if (code === FORMAT_EXTENSIBLE && size >= 40) code = view.getUint16(body + 24, true); // sub-format GUID
      format = {
        code,
        channels: view.getUint16(body + 2, true),
        sampleRate: view.getUint32(body + 4, true),
        bitsPerSample: view.getUint16(body + 14, true),
      };
    } else if (id === 'data') {
      // Recorders that stream WAV may leave the size at 0 or 0xFFFFFFFF; take what is there.
      const end = size === 0 || body + size > bytes.length ? bytes.length : body + size;
      pcm = { offset: body, length: end - body };
    }
    offset = body + size + (size % 2); // chunks are word-aligned
  }
  if (!format) throw new WavFormatError('WAV file has no fmt chunk');
  if (!pcm) throw new WavFormatError('WAV file has no data chunk');
  const { code, channels, sampleRate, bitsPerSample } = format;
  if (channels < 1 || sampleRate < 1) throw new WavFormatError(`WAV header is invalid (channels=${channels}, rate=${sampleRate})`);
  const readSample = sampleReader(view, code, bitsPerSample);
  const bytesPerSample = bitsPerSample / 8;
  const frames = Math.floor(pcm.length / (bytesPerSample * channels));
  if (frames === 0) throw new WavFormatError('WAV file has no samples');
  const samples = new Float32Array(frames);
  for (let frame = 0; frame < frames; frame += 1) {
    const frameOffset = pcm.offset + frame * bytesPerSample * channels;
    if (channels === 1) {
      samples[frame] = readSample(frameOffset);
    } else {
      let sum = 0;
      for (let channel = 0; channel < channels; channel += 1) sum += readSample(frameOffset + channel * bytesPerSample);
      samples[frame] = sum / channels;
    }
  }
  return { samples, sampleRate, channels };
}

function sampleReader(view, code, bits) {
  if (code === FORMAT_PCM) {
    if (bits === 8) return (offset) => (view.getUint8(offset) - 128) / 128;
    if (bits === 16) return (offset) => view.getInt16(offset, true) / 32768;
    if (bits === 24) {
      return (offset) => {
        const value = view.getUint8(offset) | (view.getUint8(offset + 1) << 8) | (view.getInt8(offset + 2) << 16);
        return value / 8388608;
      };
    }
    if (bits === 32) return (offset) => view.getInt32(offset, true) / 2147483648;
  } else if (code === FORMAT_IEEE_FLOAT) {
    if (bits === 32) return (offset) => view.getFloat32(offset, true);
    if (bits === 64) return (offset) => view.getFloat64(offset, true);
  }
  throw new WavFormatError(
    `unsupported WAV encoding (format ${code}, ${bits}-bit); use PCM 8/16/24/32-bit or float 32/64-bit, or decode in the app`,
  );
}

/**
 * Encode mono float32 PCM as WAV: 16-bit PCM (what the fallback sends, as the Python predictor does) or
 * 32-bit float (lossless). 16-bit samples are clipped to [-1, 1] and quantised as libsndfile 1.2 does
 * (floor(x * 32768), measured against Python's `soundfile`), so both clients post byte-identical audio.
 * @param {Float32Array} samples @param {number} sampleRate @param {{bitsPerSample?: 16 | 32}} [options]
 * @returns {Uint8Array}
 */
export function encodeWav(samples, sampleRate, { bitsPerSample = 16 } = {}) {
  if (bitsPerSample !== 16 && bitsPerSample !== 32) throw new RangeError(`bitsPerSample must be 16 or 32; got ${bitsPerSample}`);
  const bytesPerSample = bitsPerSample / 8;
  const dataBytes = samples.length * bytesPerSample;
  const buffer = new ArrayBuffer(44 + dataBytes);
  const view = new DataView(buffer);
  const writeText = (offset, text) => {
    for (let i = 0; i < text.length; i += 1) view.setUint8(offset + i, text.charCodeAt(i));
  };
  writeText(0, 'RIFF');
  view.setUint32(4, 36 + dataBytes, true);
  writeText(8, 'WAVE');
  writeText(12, 'fmt ');
  view.setUint32(16, 16, true);
  view.setUint16(20, bitsPerSample === 16 ? FORMAT_PCM : FORMAT_IEEE_FLOAT, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, sampleRate * bytesPerSample, true);
  view.setUint16(32, bytesPerSample, true);
  view.setUint16(34, bitsPerSample, true);
  writeText(36, 'data');
  view.setUint32(40, dataBytes, true);
  for (let i = 0; i < samples.length; i += 1) {
    if (bitsPerSample === 16) {
      const level = Math.floor(Math.min(1, Math.max(-1, samples[i])) * 32768);
      view.setInt16(44 + i * 2, Math.min(32767, level), true);
    }
    else view.setFloat32(44 + i * 4, samples[i], true);
  }
  return new Uint8Array(buffer);
}
