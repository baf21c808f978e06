/**
 * `predictWithEdge`: edge first, the server when the edge is unsure, never a lost prediction.
 *
 * Mirrors the Python `EdgePredictor` (README "Prediction on the edge" section): audio is cut into sliding windows, each window is
 * scored on the device, and a window whose top-1 confidence is below `threshold` is posted to the
 * server's `/api/predict` (16-bit WAV of that window). The server's answer replaces it (`source:
 * "server"`); if the server is unreachable, slow or answers an error, the edge result stays, flagged
 * `fallback_failed`. The answer for the whole input is the mean of the window probabilities, as the
 * server computes it; consecutive windows with the same label and source are merged into detections.
 */

import { audioWindows, resample } from './audio.js';
import { imageToTensor, channelsOf } from './image.js';
import { encodePng } from './png.js';
import { FallbackFailedError, ServerClient } from './server.js';
import { decodeWav, encodeWav } from './wav.js';

/** Confidence under which the server is asked, unless the app passes its own (Python's default too). */
export const DEFAULT_THRESHOLD = 0.8;

/** The hop in samples: 50 % overlap by default (Python's `hop_samples`). */
export function hopSamples(clipSamples, sampleRate, hopSeconds) {
  if (hopSeconds === undefined || hopSeconds === null) return Math.max(1, Math.floor(clipSamples / 2));
  const hop = Math.round(hopSeconds * sampleRate);
  if (!(hop >= 1)) throw new RangeError(`hop of ${hopSeconds} s is shorter than one sample at ${sampleRate} Hz; use a larger hopSeconds`);
  return hop;
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) if (values[i] > values[best]) best = i;
  return best;
}

const asRecord = (labels, values) => Object.fromEntries(labels.map((label, i) => [label, values[i]]));

/** Top-k (label, probability) pairs, highest first; ties keep label order (stable, like numpy's). */
function topK(labels, values, k) {
  return labels
    .map((label, index) => ({ label, probability: values[index], index }))
    .sort((a, b) => b.probability - a.probability || a.index - b.index)
    .slice(0, Math.max(1, k))
    .map(({ label, probability }) => ({ label, probability }));
}

/** The class trained on ambient recordings (`--background`): never reported as a detection. */
export const BACKGROUND_LABEL = 'background';

/**
 * Merge runs of windows sharing top-1 label and source; confidence = the run's best top-1 probability.
 * Same rule as Python's `merge_windows`.
 */
export function mergeWindows(windows, labels, k = 1) {
  const detections = [];
  for (const window of windows) {
    const current = detections[detections.length - 1];
    if (current && current.label === window.label && current.source === window.source) {
      current.end_s = Math.max(current.end_s, window.end_s);
      current.fallback_failed = current.fallback_failed || window.fallback_failed;
      if (window.confidence > current.confidence) {
        current.confidence = window.confidence;
        current.top_k = topK(labels, window.scores, k);
      }
      continue;
    }
    detections.push({
      start_s: window.start_s,
      end_s: window.end_s,
      label: window.label,
      confidence: window.confidence,
      source: window.source,
      top_k: topK(labels, window.scores, k),
      fallback_failed: window.fallback_failed,
    });
  }
  return detections;
}

/** `mergeWindows` without the background class's runs (Python's `reported_detections`). */
export function reportedDetections(windows, labels, k = 1) {
  return mergeWindows(windows, labels, k).filter((detection) => detection.label !== BACKGROUND_LABEL);
}

/**
 * Server probabilities in the model's label order. A server label the model lacks cannot stand in for the
 * edge answer; labels the server does not report count as 0 (Python's `EdgePredictor` rule).
 */
function serverScores(answer, labels) {
  const unknown = Object.keys(answer.probabilities).filter((label) => !labels.includes(label));
  if (unknown.length || !labels.includes(answer.label)) {
    throw new FallbackFailedError(`server model has labels the edge model lacks (${unknown.join(', ') || answer.label}); point serverUrl at the matching server model`);
  }
  return Float32Array.from(labels, (label) => Number(answer.probabilities[label] ?? 0));
}

function normaliseInput(input, kind) {
  if (!input || typeof input !== 'object') throw new TypeError('input must be {samples, sampleRate}, {wav} or {pixels, width, height}');
  if (input.wav !== undefined) {
    const { samples, sampleRate } = decodeWav(input.wav);
    return { kind: 'audio', samples, sampleRate };
  }
  if (input.samples !== undefined) {
    if (!(input.samples instanceof Float32Array)) throw new TypeError('audio samples must be a Float32Array of mono PCM in [-1, 1]');
    if (!(Number.isFinite(input.sampleRate) && input.sampleRate > 0)) throw new RangeError(`sampleRate must be a positive number of Hz; got ${input.sampleRate}`);
    if (input.samples.length === 0) throw new RangeError('audio has no samples (zero length); pass a recording');
    return { kind: 'audio', samples: input.samples, sampleRate: input.sampleRate };
  }
  if (input.pixels !== undefined) return { kind: 'image', ...input };
  throw new TypeError(`input must be {samples, sampleRate} or {wav} for audio models, {pixels, width, height} for photo models (this model takes ${kind})`);
}

/**
 * The server client for this call. Clients made from `serverUrl` are kept on the model, so the circuit
 * breaker spans calls; pass `server` (a `ServerClient`) to control that yourself.
 */
function serverClientFor(model, options) {
  if (options.server) return options.server;
  const settings = { timeoutMs: options.timeoutMs, fetch: options.fetch };
  if (options.fetch) return new ServerClient(options.serverUrl, settings);
  const key = `${options.serverUrl}|${options.timeoutMs ?? ''}`;
  if (!model.serverClients.has(key)) model.serverClients.set(key, new ServerClient(options.serverUrl, settings));
  return model.serverClients.get(key);
}

/**
 * Predict on the device; ask the server when unsure.
 * @param {import('../types/index.js').PredictInput} input
 * @param {import('../types/index.js').PredictOptions} options `model` is required
 * @returns {Promise<import('../types/index.js').PredictResult>}
 */
export async function predictWithEdge(input, options = {}) {
  const { model, threshold = DEFAULT_THRESHOLD, topK: k = 1 } = options;
  if (!model || typeof model.probabilities !== 'function') throw new TypeError('pass the loaded model: predictWithEdge(input, {model, ...}) with model from loadEdgeModel()');
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must be between 0 and 1; got ${threshold}`);
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`topK must be an integer of at least 1; got ${k}`);
  const normalised = normaliseInput(input, model.kind);
  if (normalised.kind !== model.kind) {
    const wanted = model.kind === 'audio' ? '{samples, sampleRate} or {wav}' : '{pixels, width, height}';
    throw new TypeError(`this model classifies ${model.kind === 'audio' ? 'audio' : 'photos'}; pass ${wanted}`);
  }
  const server = options.serverUrl || options.server ? serverClientFor(model, options) : null;
  return normalised.kind === 'audio'
    ? predictAudio(model, normalised, { ...options, threshold, topK: k }, server)
    : predictImage(model, normalised, { ...options, threshold }, server);
}

async function predictAudio(model, { samples, sampleRate }, options, server) {
  const { spec, labels } = model;
  const rate = spec.sample_rate;
  const pcm = sampleRate === rate ? samples : resample(samples, sampleRate, rate);
  const hop = hopSamples(spec.clip_samples, rate, options.hopSeconds);
  const cuts = audioWindows(pcm, spec, hop);
  const rows = await model.probabilities(cuts.map((cut) => cut.samples));
  const windows = [];
  for (let i = 0; i < cuts.length; i += 1) {
    let scores = rows[i];
    let source = 'edge';
    let fallbackFailed = false;
    let fallbackError;
    if (server && scores[argmax(scores)] < options.threshold) {
      try {
        // The window's real audio only (no padding), as Python sends it; the server pads it the same way.
        const audio = cuts[i].samples.subarray(0, cuts[i].end - cuts[i].start);
        const name = `${options.name ?? 'recording'}_${(cuts[i].start / rate).toFixed(3)}s.wav`;
        const answer = await server.predict(encodeWav(audio, rate), name, 'audio/wav');
        scores = serverScores(answer, labels);
        source = 'server';
      } catch (error) {
        if (!(error instanceof FallbackFailedError)) throw error;
        fallbackFailed = true;
        fallbackError = error.message;
      }
    }
    const best = argmax(scores);
    windows.push({
      start_s: cuts[i].start / rate,
      end_s: cuts[i].end / rate,
      label: labels[best],
      confidence: scores[best],
      source,
      fallback_failed: fallbackFailed,
      ...(fallbackError ? { fallback_error: fallbackError } : {}),
      probabilities: asRecord(labels, Array.from(scores)),
      scores,
    });
  }
  const mean = new Float64Array(labels.length);
  for (const window of windows) for (let c = 0; c < labels.length; c += 1) mean[c] += window.scores[c] / windows.length;
  const best = argmax(mean);
  const sources = new Set(windows.map((window) => window.source));
  const failed = windows.filter((window) => window.fallback_failed);
  const detections = reportedDetections(windows, labels, options.topK);
  return {
    label: labels[best],
    confidence: mean[best],
    probabilities: asRecord(labels, Array.from(mean)),
    source: sources.size === 1 ? [...sources][0] : 'mixed',
    fallback_failed: failed.length > 0,
    ...(failed.length ? { fallback_error: failed[0].fallback_error } : {}),
    model: model.modelInfo,
    windows: windows.map(({ scores, ...window }) => window),
    detections,
  };
}

async function predictImage(model, image, options, server) {
  const { labels } = model;
  const [scores] = await model.probabilities([imageToTensor(image, model.spec)]);
  const best = argmax(scores);
  const edge = {
    label: labels[best],
    confidence: scores[best],
    probabilities: asRecord(labels, Array.from(scores)),
    source: 'edge',
    fallback_failed: false,
    model: model.modelInfo,
  };
  if (!server || scores[best] >= options.threshold) return edge;
  try {
    // The original file when the app has it (the server decodes it like Python does), else a lossless PNG.
    const file = image.file ?? {
      bytes: encodePng(image.pixels, image.width, image.height, channelsOf(image.pixels, image.width, image.height, image.channels)),
      filename: 'image.png',
      type: 'image/png',
    };
    const answer = await server.predict(file.bytes, file.filename ?? 'image', file.type ?? 'application/octet-stream');
    const serverRow = serverScores(answer, labels);
    const serverBest = argmax(serverRow);
    return {
      label: labels[serverBest],
      confidence: serverRow[serverBest],
      probabilities: asRecord(labels, Array.from(serverRow)),
      source: 'server',
      fallback_failed: false,
      model: answer.model ?? {},
    };
  } catch (error) {
    if (!(error instanceof FallbackFailedError)) throw error;
    return { ...edge, fallback_failed: true, fallback_error: error.message };
  }
}
