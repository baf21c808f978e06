/**
 * Audio preprocessing on the app side: resample to the model's rate, then cut into model windows.
 *
 * The exported audio model contains its log-mel front-end and takes the raw waveform, so the app only
 * has to hand it windows of exactly `spec.clip_samples` samples at `spec.sample_rate`. Window positions
 * and padding mirror the Python predictor (`nightscan_edge.audio.decode.window_starts` / `fit_to_length`),
 * which is what makes the probabilities identical when the PCM is already at the model's rate.
 */

/** Zero crossings on each side of the resampling kernel: 16 keeps the pass band flat to ~0.9 Nyquist. */
export const RESAMPLE_ZERO_CROSSINGS = 16;

/**
 * Band-limited resampling with a Hann-windowed sinc kernel (anti-aliased when downsampling).
 *
 * It is not bit-identical to the soxr filter the Python side uses, so parity with Python is only promised
 * for PCM already at the model's rate; the difference this makes is measured in the parity test.
 * @param {Float32Array} samples mono PCM
 * @param {number} fromRate source rate in Hz
 * @param {number} toRate target rate in Hz
 * @returns {Float32Array}
 */
export function resample(samples, fromRate, toRate) {
  checkRate(fromRate, 'sampleRate');
  checkRate(toRate, 'model sample rate');
  if (fromRate === toRate) return samples;
  const ratio = toRate / fromRate;
  const outputLength = Math.max(1, Math.round(samples.length * ratio));
  const cutoff = Math.min(1, ratio); // normalised to the source Nyquist
  const halfWidth = RESAMPLE_ZERO_CROSSINGS / cutoff; // in source samples
  const output = new Float32Array(outputLength);
  for (let index = 0; index < outputLength; index += 1) {
    const centre = index / ratio;
    const first = Math.max(0, Math.ceil(centre - halfWidth));
    const last = Math.min(samples.length - 1, Math.floor(centre + halfWidth));
    let sum = 0;
    let weightSum = 0;
    for (let source = first; source <= last; source += 1) {
      const distance = source - centre;
      const x = distance * cutoff;
      const sinc = x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x);
      const window = 0.5 + 0.5 * Math.cos((Math.PI * distance) / halfWidth);
      const weight = sinc * window;
      sum += samples[source] * weight;
      weightSum += weight;
    }
    // Normalising by the weight sum keeps DC gain 1 at the edges, where the kernel is cut off.
    output[index] = weightSum !== 0 ? sum / weightSum : 0;
  }
  return output;
}

function checkRate(rate, name) {
  if (!Number.isFinite(rate) || rate <= 0) {
    throw new RangeError(`${name} must be a positive number of Hz; got ${rate}`);
  }
}

/**
 * Start offsets of windows covering a clip: at least one; the last window ends at the clip's end.
 * Same rule as Python's `window_starts`.
 * @param {number} totalSamples @param {number} window @param {number} hop
 * @returns {number[]}
 */
export function windowStarts(totalSamples, window, hop) {
  if (!(Number.isInteger(hop) && hop > 0)) throw new RangeError(`hop must be a positive integer; got ${hop}`);
  if (totalSamples <= window) return [0];
  const starts = [];
  for (let start = 0; start <= totalSamples - window; start += hop) starts.push(start);
  if (starts[starts.length - 1] + window < totalSamples) starts.push(totalSamples - window);
  return starts;
}

/**
 * Pad a clip shorter than `length` (loop-repeat it, or append zeros); longer clips are cut.
 * Same rule as Python's `fit_to_length`.
 * @param {Float32Array} samples @param {number} length @param {'loop' | 'zero'} padMode
 * @returns {Float32Array}
 */
export function fitToLength(samples, length, padMode = 'loop') {
  if (samples.length >= length) return samples.subarray(0, length);
  const output = new Float32Array(length);
  if (padMode === 'loop' && samples.length > 0) {
    for (let offset = 0; offset < length; offset += samples.length) {
      output.set(samples.subarray(0, Math.min(samples.length, length - offset)), offset);
    }
  } else if (padMode === 'zero' || samples.length === 0) {
    output.set(samples);
  } else {
    throw new RangeError(`unknown pad_mode '${padMode}'; expected 'loop' or 'zero'`);
  }
  return output;
}

/**
 * Cut mono PCM at the model's rate into model windows.
 * @param {Float32Array} samples
 * @param {{clip_samples: number, sample_rate: number, pad_mode?: 'loop' | 'zero'}} spec
 * @param {number} hopSamples
 * @returns {{start: number, end: number, samples: Float32Array}[]} `end` is where real audio ends
 */
export function audioWindows(samples, spec, hopSamples) {
  const window = spec.clip_samples;
  return windowStarts(samples.length, window, hopSamples).map((start) => {
    const end = Math.min(start + window, samples.length);
    return { start, end, samples: fitToLength(samples.subarray(start, end), window, spec.pad_mode ?? 'loop') };
  });
}
