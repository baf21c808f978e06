/**
 * Multi-label exports (manifest.objective "multilabel", docs/multilabel.md): every class at or above its own
 * threshold, per-class detections that overlap in time, the server asked when any class is near its threshold,
 * and manifests that cannot work refused with one message. Python's `EdgePredictor` follows the same rules.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { ManifestError, validateManifest } from '../src/manifest.js';
import { loadEdgeModel } from '../src/model.js';
import { labelsAboveThresholds, mergePresentWindows, nearThresholds, predictWithEdge } from '../src/predict.js';

const LABELS = ['owl', 'fox', 'bat'];
const THRESHOLDS = { owl: 0.25, fox: 0.45, bat: 0.5 };
// Sigmoid rows by the window's first sample: 0 -> owl, 1 -> owl and fox (owl near its threshold), 2 -> bat.
const ROWS = [[0.9, 0.05, 0.05], [0.3, 0.5, 0.2], [0.1, 0.1, 0.8]];

function fakeOrt() {
  class Tensor {
    constructor(type, data, dims) {
      Object.assign(this, { type, data, dims });
    }
  }
  const session = {
    inputNames: ['input'],
    outputNames: ['probabilities'],
    async run({ input }) {
      const size = input.dims[1];
      const out = new Float32Array(input.dims[0] * LABELS.length);
      for (let i = 0; i < input.dims[0]; i += 1) out.set(ROWS[input.data[i * size]], i * LABELS.length);
      return { probabilities: { data: out } };
    },
  };
  return { Tensor, InferenceSession: { create: async () => session } };
}

const SPEC = { kind: 'audio', sample_rate: 10, clip_samples: 4, pad_mode: 'zero' };
const manifest = (extra = {}) => ({
  model_name: 'ultralight_audio', run_id: 'r1', labels: LABELS, objective: 'multilabel', thresholds: THRESHOLDS,
  input: { name: 'input', shape: [-1, 4], spec: SPEC },
  output: { name: 'probabilities', meaning: 'probabilities', activation: 'sigmoid' }, temperature: 1, ...extra,
});
const model = () => loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx', manifest: manifest() });
/** Windows (clip 4, hop 2) starting with codes 0, 1, 1, 2. */
const recording = () => ({ samples: Float32Array.from([0, 0, 1, 0, 1, 0, 2, 0, 2, 0]), sampleRate: 10 });
const json = (body) => ({ status: 200, text: async () => JSON.stringify(body) });

test('every class at or above its threshold, per window, per detection and for the recording', async () => {
  const result = await predictWithEdge(recording(), { model: await model() });
  assert.equal(result.objective, 'multilabel');
  assert.deepEqual(result.windows.map((w) => w.labels), [['owl'], ['fox', 'owl'], ['fox', 'owl'], ['bat']]);
  assert.deepEqual(result.detections.map((d) => [d.label, d.start_s, d.end_s]), [['owl', 0, 0.8], ['fox', 0.2, 0.8], ['bat', 0.6, 1]]);
  assert.deepEqual(result.labels, ['owl', 'bat', 'fox']); // each class's highest window score, highest first
  assert.ok(Math.abs(result.probabilities.bat - Math.fround(0.8)) < 1e-9); // the maximum, not the mean
});

test('a window goes to the server when any class is near its threshold; a single-label server cannot answer', async () => {
  const posted = [];
  const answer = { label: 'owl', confidence: 0.9, objective: 'multilabel', probabilities: { owl: 0.9, fox: 0.9, bat: 0.1 } };
  const fetch = async (url) => { posted.push(url); return json(answer); };
  const edge = await model();
  const result = await predictWithEdge(recording(), { model: edge, serverUrl: 'http://127.0.0.1:1', fetch });
  assert.equal(posted.length, 2); // owl 0.3 is 0.05 from 0.25 in the two middle windows
  assert.deepEqual(result.windows.map((w) => w.source), ['edge', 'server', 'server', 'edge']);
  assert.deepEqual(result.windows[1].labels, ['owl', 'fox']);
  const none = await predictWithEdge(recording(), { model: edge, serverUrl: 'http://127.0.0.1:1', fetch, nearThreshold: 0.01 });
  assert.equal(none.source, 'edge');
  const single = async () => json({ ...answer, objective: undefined });
  const failed = await predictWithEdge(recording(), { model: edge, serverUrl: 'http://127.0.0.1:1', fetch: single });
  assert.equal(failed.fallback_failed, true);
  assert.match(failed.fallback_error, /server model is single_label, the edge model multilabel/);
});

test('the helpers agree with Python: order, ties and nearness', () => {
  assert.deepEqual(labelsAboveThresholds(LABELS, [0.5, 0.5, 0.1], [0.5, 0.4, 0.5]), ['owl', 'fox']);
  assert.equal(nearThresholds([0.3, 0.9, 0.9], [0.25, 0.5, 0.5], 0.1), true);
  assert.equal(nearThresholds([0.5, 0.9, 0.9], [0.25, 0.5, 0.5], 0.1), false);
  const windows = [0, 1].map((i) => ({ start_s: i, end_s: i + 1, source: 'edge', fallback_failed: false, scores: [0.9, 0.1, 0.6] }));
  assert.deepEqual(mergePresentWindows(windows, LABELS, [0.5, 0.5, 0.5]).map((d) => [d.label, d.start_s, d.end_s]), [['owl', 0, 2], ['bat', 0, 2]]);
});

test('multi-label manifests that cannot work are refused with what to do', async () => {
  const cases = [
    [{ thresholds: undefined }, /multilabel without per-class "thresholds"/],
    [{ thresholds: { ...THRESHOLDS, wolf: 0.5 } }, /labels the model does not have: wolf/],
    [{ thresholds: { owl: 0.5, fox: 0.5 } }, /no threshold for label\(s\) bat/],
    [{ thresholds: { ...THRESHOLDS, owl: 2 } }, /outside \[0, 1\] for owl/],
    [{ output: { name: 'probabilities', activation: 'softmax' } }, /multilabel model's output is softmax/],
    [{ objective: 'several' }, /objective 'several'/],
  ];
  for (const [change, message] of cases) {
    assert.throws(() => validateManifest(manifest(change)), (error) => error instanceof ManifestError && message.test(error.message));
  }
  await assert.rejects(loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx', manifest: manifest({ thresholds: null }) }), /without per-class/);
  assert.doesNotThrow(() => validateManifest({ ...manifest(), objective: undefined, thresholds: undefined, output: { name: 'p' } }));
});
