import assert from 'node:assert/strict';
import { test } from 'node:test';

import { audioWindows, fitToLength, resample, windowStarts } from '../src/audio.js';
import { hopSamples } from '../src/predict.js';
import { WavFormatError, decodeWav, encodeWav } from '../src/wav.js';

test('window starts follow the Python rule: hops, then one window aligned to the end', () => {
  assert.deepEqual(windowStarts(3, 4, 2), [0]);
  assert.deepEqual(windowStarts(4, 4, 2), [0]);
  assert.deepEqual(windowStarts(10, 4, 2), [0, 2, 4, 6]);
  assert.deepEqual(windowStarts(11, 4, 2), [0, 2, 4, 6, 7]);
  assert.deepEqual(windowStarts(20, 4, 10), [0, 10, 16]);
  assert.throws(() => windowStarts(10, 4, 0), /hop must be a positive integer/);
});

test('hop defaults to half a window and rejects hops under one sample', () => {
  assert.equal(hopSamples(16384, 16000), 8192);
  assert.equal(hopSamples(3, 16000), 1);
  assert.equal(hopSamples(16384, 16000, 0.25), 4000);
  assert.throws(() => hopSamples(16384, 16000, 0.00001), /shorter than one sample/);
});

test('short clips are loop-repeated or zero-padded; long ones cut', () => {
  const clip = Float32Array.from([1, 2, 3]);
  assert.deepEqual(Array.from(fitToLength(clip, 7, 'loop')), [1, 2, 3, 1, 2, 3, 1]);
  assert.deepEqual(Array.from(fitToLength(clip, 5, 'zero')), [1, 2, 3, 0, 0]);
  assert.deepEqual(Array.from(fitToLength(clip, 2, 'loop')), [1, 2]);
  assert.throws(() => fitToLength(clip, 5, 'mirror'), /unknown pad_mode/);
});

test('audio windows report where real audio ends (padding excluded)', () => {
  const samples = Float32Array.from({ length: 11 }, (_, i) => i);
  const windows = audioWindows(samples, { clip_samples: 4, sample_rate: 10, pad_mode: 'zero' }, 2);
  assert.deepEqual(windows.map((w) => [w.start, w.end]), [[0, 4], [2, 6], [4, 8], [6, 10], [7, 11]]);
  assert.deepEqual(Array.from(windows[4].samples), [7, 8, 9, 10]);
  const short = audioWindows(Float32Array.from([5, 6]), { clip_samples: 5, sample_rate: 10, pad_mode: 'loop' }, 2);
  assert.deepEqual(short.map((w) => [w.start, w.end, Array.from(w.samples)]), [[0, 2, [5, 6, 5, 6, 5]]]);
});

function sine(frequency, rate, seconds) {
  return Float32Array.from({ length: Math.round(rate * seconds) }, (_, i) => Math.sin((2 * Math.PI * frequency * i) / rate));
}

function rms(samples, from = 0, to = samples.length) {
  let sum = 0;
  for (let i = from; i < to; i += 1) sum += samples[i] ** 2;
  return Math.sqrt(sum / (to - from));
}

test('resampling keeps in-band tones and removes tones above the new Nyquist', () => {
  const kept = resample(sine(1000, 48000, 0.5), 48000, 16000);
  assert.equal(kept.length, 8000);
  const expected = sine(1000, 16000, 0.5);
  let worst = 0;
  for (let i = 400; i < 7600; i += 1) worst = Math.max(worst, Math.abs(kept[i] - expected[i]));
  assert.ok(worst < 2e-3, `1 kHz tone after 48k->16k differs by ${worst}`);
  const aliased = resample(sine(12000, 48000, 0.5), 48000, 16000); // would alias to 4 kHz without filtering
  assert.ok(rms(aliased, 400, 7600) < 0.01, `12 kHz tone leaks ${rms(aliased, 400, 7600)} RMS after downsampling`);
  const up = resample(sine(440, 16000, 0.25), 16000, 22050);
  assert.equal(up.length, Math.round(0.25 * 22050));
  assert.ok(Math.abs(rms(up, 500, up.length - 500) - Math.SQRT1_2) < 2e-3);
  const same = sine(440, 16000, 0.1);
  assert.equal(resample(same, 16000, 16000), same);
  assert.throws(() => resample(same, 0, 16000), /sampleRate must be a positive number/);
});

test('WAV round trip: 32-bit float is exact, 16-bit within one step', () => {
  const samples = Float32Array.from([0, 0.5, -0.5, 0.123456789, -1, 1, 1.5]);
  const exact = decodeWav(encodeWav(samples, 22050, { bitsPerSample: 32 }));
  assert.equal(exact.sampleRate, 22050);
  assert.deepEqual(Array.from(exact.samples), Array.from(samples));
  const pcm16 = decodeWav(encodeWav(samples, 8000));
  assert.equal(pcm16.sampleRate, 8000);
  samples.forEach((value, i) => assert.ok(Math.abs(pcm16.samples[i] - Math.max(-1, Math.min(1, value))) <= 1 / 32768));
  // libsndfile's float -> PCM16 rule (floor(x * 32768)), so Python and JS post the same bytes
  const levels = new DataView(encodeWav(Float32Array.from([0.5, -0.5, 1, -1, 0.99999, -1e-6, 3e-5]), 8000).buffer);
  assert.deepEqual([0, 1, 2, 3, 4, 5, 6].map((i) => levels.getInt16(44 + 2 * i, true)), [16384, -16384, 32767, -32768, 32767, -1, 0]);
});

function wavBytes({ format = 1, channels = 1, rate = 8000, bits = 16, data, extensible = false, extraChunk = false }) {
  const fmtSize = extensible ? 40 : 16;
  const chunks = [];
  const header = Buffer.alloc(12);
  header.write('RIFF', 0);
  header.write('WAVE', 8);
  chunks.push(header);
  if (extraChunk) {
    const list = Buffer.alloc(8 + 3 + 1);
    list.write('LIST', 0);
    list.writeUInt32LE(3, 4);
    chunks.push(list); // odd-sized chunk: padded to a word boundary
  }
  const fmt = Buffer.alloc(8 + fmtSize);
  fmt.write('fmt ', 0);
  fmt.writeUInt32LE(fmtSize, 4);
  fmt.writeUInt16LE(extensible ? 0xfffe : format, 8);
  fmt.writeUInt16LE(channels, 10);
  fmt.writeUInt32LE(rate, 12);
  fmt.writeUInt32LE((rate * channels * bits) / 8, 16);
  fmt.writeUInt16LE((channels * bits) / 8, 20);
  fmt.writeUInt16LE(bits, 22);
  if (extensible) {
    fmt.writeUInt16LE(22, 24);
    fmt.writeUInt16LE(format, 32); // first two bytes of the sub-format GUID
  }
  chunks.push(fmt);
  const dataHeader = Buffer.alloc(8);
  dataHeader.write('data', 0);
  dataHeader.writeUInt32LE(data.length, 4);
  chunks.push(dataHeader, data);
  const out = Buffer.concat(chunks);
  out.writeUInt32LE(out.length - 8, 4);
  return new Uint8Array(out);
}

test('WAV decoding scales integers like libsndfile and averages channels', () => {
  const stereo16 = Buffer.alloc(8);
  stereo16.writeInt16LE(16384, 0);
  stereo16.writeInt16LE(-32768, 2);
  stereo16.writeInt16LE(32767, 4);
  stereo16.writeInt16LE(32767, 6);
  const decoded = decodeWav(wavBytes({ channels: 2, data: stereo16, extraChunk: true }));
  assert.equal(decoded.channels, 2);
  assert.deepEqual(Array.from(decoded.samples), [Math.fround((0.5 - 1) / 2), Math.fround(32767 / 32768)]);

  const pcm24 = Buffer.from([0x00, 0x00, 0x40, 0xff, 0xff, 0xff]); // 0.5, -1/2^23
  assert.deepEqual(Array.from(decodeWav(wavBytes({ bits: 24, data: pcm24, extensible: true })).samples), [0.5, Math.fround(-1 / 8388608)]);

  const pcm8 = Buffer.from([128, 255, 0]);
  assert.deepEqual(Array.from(decodeWav(wavBytes({ bits: 8, data: pcm8 })).samples), [0, Math.fround(127 / 128), -1]);

  const float64 = Buffer.alloc(16);
  float64.writeDoubleLE(0.25, 0);
  float64.writeDoubleLE(-0.75, 8);
  assert.deepEqual(Array.from(decodeWav(wavBytes({ format: 3, bits: 64, data: float64 })).samples), [0.25, -0.75]);
});

test('bad WAV input fails with what to do', () => {
  assert.throws(() => decodeWav(new Uint8Array([1, 2, 3])), WavFormatError);
  assert.throws(() => decodeWav(new TextEncoder().encode('ID3 not a wav file at all')), /decode other formats in the app/);
  assert.throws(() => decodeWav(wavBytes({ data: Buffer.alloc(0) })), /no samples/);
  assert.throws(() => decodeWav(wavBytes({ format: 2, bits: 4, data: Buffer.alloc(4) })), /unsupported WAV encoding/);
});
