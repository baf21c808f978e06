/**
 * The export manifest: what the model expects (input spec), what it returns, and its labels.
 *
 * The same JSON is written beside each artifact (`manifest.json`) and embedded in the `.onnx` file's
 * `metadata_props`; everything the client computes comes from it, never from hand-copied constants.
 */

import { readOnnxMetadata } from './onnx-metadata.js';

/** metadata_props key holding the manifest JSON in an exported `.onnx` file. */
export const ONNX_MANIFEST_KEY = 'nightscan_manifest';

export class ManifestError extends Error {
  constructor(message) {
    super(message);
    this.name = 'ManifestError';
  }
}

/**
 * The manifest embedded in ONNX model bytes.
 * @param {Uint8Array | ArrayBuffer} modelBytes
 * @returns {import('../types/index.js').Manifest}
 */
export function readManifestFromOnnx(modelBytes) {
  const metadata = readOnnxMetadata(modelBytes);
  const text = metadata[ONNX_MANIFEST_KEY];
  if (text === undefined) {
    const keys = Object.keys(metadata);
    throw new ManifestError(
      `the ONNX model has no '${ONNX_MANIFEST_KEY}' metadata (found: ${keys.length ? keys.join(', ') : 'none'}); ` +
        'export it with `nightscan-edge export` or pass the manifest.json from its export folder',
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`the ONNX model's '${ONNX_MANIFEST_KEY}' metadata is not valid JSON (${error.message}); re-run the export`);
  }
}

function fail(message) {
  throw new ManifestError(`manifest ${message}; pass the manifest.json of a NightScan Edge export`);
}

const isPositiveInteger = (value) => Number.isInteger(value) && value > 0;

/**
 * Check the parts of the manifest the client relies on; a manifest from another tool fails here, clearly.
 * @param {any} manifest
 * @returns {import('../types/index.js').Manifest}
 */
export function validateManifest(manifest) {
  if (manifest === null || typeof manifest !== 'object') fail('is not a JSON object');
  const { labels, input, output } = manifest;
  if (!Array.isArray(labels) || labels.length === 0 || !labels.every((label) => typeof label === 'string')) {
    fail('has no "labels" list of strings');
  }
  if (!input || typeof input !== 'object' || !input.spec || typeof input.spec !== 'object') fail('has no "input.spec"');
  const spec = input.spec;
  if (spec.kind === 'audio') {
    if (!isPositiveInteger(spec.sample_rate) || !isPositiveInteger(spec.clip_samples)) {
      fail('audio spec needs positive integer "sample_rate" and "clip_samples"');
    }
    if (spec.pad_mode !== undefined && spec.pad_mode !== 'loop' && spec.pad_mode !== 'zero') {
      fail(`audio spec has unknown pad_mode '${spec.pad_mode}' (expected 'loop' or 'zero')`);
    }
  } else if (spec.kind === 'image') {
    if (!isPositiveInteger(spec.image_size) || ![1, 3].includes(spec.channels)) {
      fail('image spec needs a positive integer "image_size" and "channels" of 1 or 3');
    }
    if (!Array.isArray(spec.mean) || !Array.isArray(spec.std) || spec.mean.length !== spec.channels || spec.std.length !== spec.channels) {
      fail('image spec needs "mean" and "std" with one value per channel');
    }
  } else {
    fail(`has input.spec.kind '${spec.kind}' (expected 'audio' or 'image')`);
  }
  if (output && output.meaning !== undefined && output.meaning !== 'probabilities') {
    fail(`says the output is '${output.meaning}'; this client needs an export whose output is probabilities`);
  }
  const { temperature } = manifest;
  if (temperature !== undefined && temperature !== null && !(typeof temperature === 'number' && temperature > 0)) {
    fail(`has temperature ${temperature} (expected a positive number or null)`);
  }
  validateObjective(manifest);
  return manifest;
}

/**
 * Single-label (softmax, the default of older files) or multi-label (one sigmoid per class, each compared with
 * its own threshold): docs/multilabel.md. A multi-label manifest must carry one threshold in [0, 1] per label.
 */
function validateObjective(manifest) {
  const objective = manifest.objective ?? 'single_label';
  if (objective !== 'single_label' && objective !== 'multilabel') {
    fail(`has objective '${objective}' (expected 'single_label' or 'multilabel')`);
  }
  const activation = manifest.output?.activation ?? 'softmax';
  const expected = objective === 'multilabel' ? 'sigmoid' : 'softmax';
  if (activation !== expected) fail(`says a ${objective} model's output is ${activation} (expected ${expected})`);
  const { thresholds, labels } = manifest;
  if (objective === 'single_label') {
    if (thresholds !== undefined && thresholds !== null) fail('has per-class thresholds but is single_label');
    return;
  }
  if (!thresholds || typeof thresholds !== 'object' || Array.isArray(thresholds)) {
    fail('is multilabel without per-class "thresholds"; re-export from a run that chose them');
  }
  const unknown = Object.keys(thresholds).filter((label) => !labels.includes(label));
  if (unknown.length) fail(`has thresholds for labels the model does not have: ${unknown.join(', ')}`);
  const missing = labels.filter((label) => !(label in thresholds));
  if (missing.length) fail(`has no threshold for label(s) ${missing.join(', ')}`);
  const bad = labels.filter((label) => !(typeof thresholds[label] === 'number' && thresholds[label] >= 0 && thresholds[label] <= 1));
  if (bad.length) fail(`has thresholds outside [0, 1] for ${bad.join(', ')}`);
}
