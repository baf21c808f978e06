/**
 * `predictWithEdge`: edge first, the server when the edge is unsure, never a lost prediction.
 *
 * Mirrors the Python `EdgePredictor` (README "Prediction on the edge" section): audio is cut into sliding windows, each window is
 * scored on the device, and a window whose top-1 confidence is below `threshold` is posted to the
 * server's `/api/predict` (16-bit WAV of that window). The server's answer replaces it (`source:
 * "server"`); if the server is unreachable, slow or answers an error, the edge result stays, flagged
 * `fallback_failed`. The answer for the whole input is the mean of the window probabilities, as the
 * server computes it; consecutive windows with the same label and source are merged into detections.
 *
 * A multi-label model (`manifest.objective: "multilabel"`, docs/multilabel.md) scores every class with its own
 * sigmoid: the result lists every class at or above its threshold (`labels`, per window and for the input, whose
 * score is each class's highest window score), detections are per class and overlap in time, and a window goes to
 * the server when any class's score lies within `nearThreshold` of its threshold (Python's `EdgePredictor` rules).
 */

import { audioWindows, resample } from './audio.js';
import { imageToTensor, channelsOf } from './image.js';
import { encodePng } from './png.js';
import { FallbackFailedError, ServerClient } from './server.js';
import { decodeWav, encodeWav } from './wav.js';

/** Confidence under which the server is asked, unless the app passes its own (Python's default too). */
export const DEFAULT_THRESHOLD = 0.8;

/** Multi-label: a window goes to the server when a class's score is this close to its threshold (Python's too). */
export const DEFAULT_NEAR_THRESHOLD = 0.1;

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

/** Multi-label: the labels whose score reaches their threshold, highest score first (Python's order too). */
export function labelsAboveThresholds(labels, scores, thresholds) {
  return labels
    .map((label, index) => ({ label, index }))
    .filter(({ index }) => scores[index] >= thresholds[index])
    .sort((a, b) => scores[b.index] - scores[a.index] || a.index - b.index)
    .map(({ label }) => label);
}

/** Multi-label: is any class's score within `margin` of its threshold? (Python's `near_thresholds`.) */
export function nearThresholds(scores, thresholds, margin) {
  return thresholds.some((threshold, index) => Math.abs(scores[index] - threshold) < margin);
}

/**
 * Multi-label detections: per class, runs of consecutive windows of one source at or above the class's threshold;
 * sorted by start time, then label order (Python's `merge_present_windows`).
 */
export function mergePresentWindows(windows, labels, thresholds, k = 1) {
  const detections = [];
  labels.forEach((label, index) => {
    let current = null;
    for (const window of windows) {
      const score = window.scores[index];
      if (score < thresholds[index]) {
        current = null;
        continue;
      }
      if (current && current.source === window.source) {
        current.end_s = Math.max(current.end_s, window.end_s);
        current.fallback_failed = current.fallback_failed || window.fallback_failed;
        if (score > current.confidence) {
          current.confidence = score;
          current.top_k = topK(labels, window.scores, k);
        }
        continue;
      }
      current = {
        start_s: window.start_s,
        end_s: window.end_s,
        label,
        confidence: score,
        source: window.source,
        top_k: topK(labels, window.scores, k),
        fallback_failed: window.fallback_failed,
        order: index,
      };
      detections.push(current);
    }
  });
  return detections.sort((a, b) => a.start_s - b.start_s || a.order - b.order).map(({ order, ...detection }) => detection);
}

/**
 * Server probabilities in the model's label order. A server label the model lacks cannot stand in for the
 * edge answer; labels the server does not report count as 0 (Python's `EdgePredictor` rule).
 */
function serverScores(answer, labels, objective = 'single_label') {
  const answered = answer.objective ?? 'single_label';
  if (answered !== objective) {
    throw new FallbackFailedError(`server model is ${answered}, the edge model ${objective}: scores do not compare; point serverUrl at the matching server model`);
  }
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
  const { model, threshold = DEFAULT_THRESHOLD, nearThreshold = DEFAULT_NEAR_THRESHOLD, topK: k = 1 } = options;
  if (!model || typeof model.probabilities !== 'function') throw new TypeError('pass the loaded model: predictWithEdge(input, {model, ...}) with model from loadEdgeModel()');
  if (!(threshold >= 0 && threshold <= 1)) throw new RangeError(`threshold must be between 0 and 1; got ${threshold}`);
  if (!(nearThreshold >= 0 && nearThreshold <= 1)) throw new RangeError(`nearThreshold must be between 0 and 1; got ${nearThreshold}`);
  if (!(Number.isInteger(k) && k >= 1)) throw new RangeError(`topK must be an integer of at least 1; got ${k}`);
  const normalised = normaliseInput(input, model.kind);
  if (normalised.kind !== model.kind) {
    const wanted = model.kind === 'audio' ? '{samples, sampleRate} or {wav}' : '{pixels, width, height}';
    throw new TypeError(`this model classifies ${model.kind === 'audio' ? 'audio' : 'photos'}; pass ${wanted}`);
  }
  const server = options.serverUrl || options.server ? serverClientFor(model, options) : null;
  return normalised.kind === 'audio'
    ? predictAudio(model, normalised, { ...options, threshold, nearThreshold, topK: k }, server)
    : predictImage(model, normalised, { ...options, threshold, nearThreshold }, server);
}

async function predictAudio(model, { samples, sampleRate }, options, server) {
  const { spec, labels } = model;
  const rate = spec.sample_rate;
  const pcm = sampleRate === rate ? samples : resample(samples, sampleRate, rate);
  const hop = hopSamples(spec.clip_samples, rate, options.hopSeconds);
  const cuts = audioWindows(pcm, spec, hop);
  const rows = await model.probabilities(cuts.map((cut) => cut.samples));
  const thresholds = model.multilabel ? model.thresholds : null;
  const windows = [];
  for (let i = 0; i < cuts.length; i += 1) {
    let scores = rows[i];
    let source = 'edge';
    let fallbackFailed = false;
    let fallbackError;
    if (server && isUnsure(scores, thresholds, options)) {
      try {
        // The window's real audio only (no padding), as Python sends it; the server pads it the same way.
        const audio = cuts[i].samples.subarray(0, cuts[i].end - cuts[i].start);
        const name = `${options.name ?? 'recording'}_${(cuts[i].start / rate).toFixed(3)}s.wav`;
        const answer = await server.predict(encodeWav(audio, rate), name, 'audio/wav');
        scores = serverScores(answer, labels, objectiveOf(model));
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
      ...presentLabels(labels, scores, thresholds),
      scores,
    });
  }
  // The input's scores: the mean of its windows, or for a multi-label model each class's highest window score
  // (a call in one window of ten is in the recording), as the Python server summarises.
  const summary = new Float64Array(labels.length);
  for (const window of windows) {
    for (let c = 0; c < labels.length; c += 1) {
      summary[c] = thresholds ? Math.max(summary[c], window.scores[c]) : summary[c] + window.scores[c] / windows.length;
    }
  }
  const best = argmax(summary);
  const sources = new Set(windows.map((window) => window.source));
  const failed = windows.filter((window) => window.fallback_failed);
  const detections = thresholds
    ? mergePresentWindows(windows, labels, thresholds, options.topK)
    : reportedDetections(windows, labels, options.topK);
  return {
    label: labels[best],
    confidence: summary[best],
    probabilities: asRecord(labels, Array.from(summary)),
    ...(thresholds ? { objective: 'multilabel', ...presentLabels(labels, summary, thresholds) } : {}),
    source: sources.size === 1 ? [...sources][0] : 'mixed',
    fallback_failed: failed.length > 0,
    ...(failed.length ? { fallback_error: failed[0].fallback_error } : {}),
    model: model.modelInfo,
    windows: windows.map(({ scores, ...window }) => window),
    detections,
  };
}

/** Does this window (or photo) go to the server? Top-1 under `threshold`, or any class near its threshold. */
function isUnsure(scores, thresholds, options) {
  return thresholds ? nearThresholds(scores, thresholds, options.nearThreshold) : scores[argmax(scores)] < options.threshold;
}

const objectiveOf = (model) => (model.multilabel ? 'multilabel' : 'single_label');

/** `{labels}`: every class at or above its threshold (multi-label), nothing for a single-label model. */
function presentLabels(labels, scores, thresholds) {
  return thresholds ? { labels: labelsAboveThresholds(labels, scores, thresholds) } : {};
}

async function predictImage(model, image, options, server) {
  const { labels } = model;
  const thresholds = model.multilabel ? model.thresholds : null;
  const [scores] = await model.probabilities([imageToTensor(image, model.spec)]);
  const best = argmax(scores);
  const multilabel = thresholds ? { objective: 'multilabel' } : {};
  const edge = {
    label: labels[best],
    confidence: scores[best],
    probabilities: asRecord(labels, Array.from(scores)),
    ...multilabel,
    ...presentLabels(labels, scores, thresholds),
    source: 'edge',
    fallback_failed: false,
    model: model.modelInfo,
  };
  if (!server || !isUnsure(scores, thresholds, options)) return edge;
  try {
    // The original file when the app has it (the server decodes it like Python does), else a lossless PNG.
    const file = image.file ?? {
      bytes: encodePng(image.pixels, image.width, image.height, channelsOf(image.pixels, image.width, image.height, image.channels)),
      filename: 'image.png',
      type: 'image/png',
    };
    const answer = await server.predict(file.bytes, file.filename ?? 'image', file.type ?? 'application/octet-stream');
    const serverRow = serverScores(answer, labels, objectiveOf(model));
    const serverBest = argmax(serverRow);
    return {
      label: labels[serverBest],
      confidence: serverRow[serverBest],
      probabilities: asRecord(labels, Array.from(serverRow)),
      ...multilabel,
      ...presentLabels(labels, serverRow, thresholds),
      source: 'server',
      fallback_failed: false,
      model: answer.model ?? {},
    };
  } catch (error) {
    if (!(error instanceof FallbackFailedError)) throw error;
    return { ...edge, fallback_failed: true, fallback_error: error.message };
  }
}
