import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EdgeModel, calibrate, loadEdgeModel } from '../src/model.js';
import { predictWithEdge, reportedDetections } from '../src/predict.js';
import { FallbackFailedError, ServerClient, multipartBody, predictUrl } from '../src/server.js';
import { decodeWav } from '../src/wav.js';

const LABELS = ['owl', 'fox', 'bat'];

/** A stand-in for an ONNX Runtime module: the "model" turns each window's first sample into a class. */
function fakeOrt(calls = []) {
  class Tensor {
    constructor(type, data, dims) {
      Object.assign(this, { type, data, dims });
    }
  }
  const session = {
    inputNames: ['input'],
    outputNames: ['probabilities'],
    async run(feeds) {
      const { data, dims } = feeds.input;
      calls.push(dims);
      const size = dims.slice(1).reduce((a, b) => a * b, 1);
      const out = new Float32Array(dims[0] * LABELS.length);
      for (let i = 0; i < dims[0]; i += 1) {
        const code = data[i * size]; // 0 -> owl confidently, 1 -> fox unsure, 2 -> bat
        const row = code === 0 ? [0.9, 0.05, 0.05] : code === 1 ? [0.3, 0.5, 0.2] : [0.1, 0.1, 0.8];
        out.set(row, i * LABELS.length);
      }
      return { probabilities: { data: out } };
    },
  };
  return { Tensor, InferenceSession: { create: async () => session } };
}

const manifest = (spec, extra = {}) => ({
  model_name: 'ultralight_audio', run_id: 'r1', labels: LABELS,
  input: { name: 'input', shape: [-1, ...(spec.kind === 'audio' ? [spec.clip_samples] : [spec.channels, spec.image_size, spec.image_size])], spec },
  output: { name: 'probabilities', meaning: 'probabilities' }, temperature: null, ...extra,
});
const AUDIO_SPEC = { kind: 'audio', sample_rate: 10, clip_samples: 4, pad_mode: 'zero' };

/** Audio whose windows (clip 4, hop 2) start with codes 0, 1, 1, 2: owl, fox?, fox?, bat. */
function recording() {
  return Float32Array.from([0, 0, 1, 0, 1, 0, 2, 0, 2, 0]);
}

const audioModel = (calls) => loadEdgeModel({ ort: fakeOrt(calls), model: 'model.onnx', manifest: manifest(AUDIO_SPEC) });

function jsonResponse(body, status = 200) {
  return { status, text: async () => (typeof body === 'string' ? body : JSON.stringify(body)) };
}

test('edge only: windows, mean probabilities, merged detections, batched runs', async () => {
  const calls = [];
  const model = await audioModel(calls);
  const result = await predictWithEdge({ samples: recording(), sampleRate: 10 }, { model, topK: 2 });
  assert.deepEqual(calls, [[4, 4]]); // one dynamic batch of four windows
  assert.equal(result.source, 'edge');
  assert.equal(result.fallback_failed, false);
  assert.deepEqual(result.windows.map((w) => [w.start_s, w.end_s, w.label]), [[0, 0.4, 'owl'], [0.2, 0.6, 'fox'], [0.4, 0.8, 'fox'], [0.6, 1, 'bat']]);
  assert.deepEqual(result.detections.map((d) => [d.start_s, d.end_s, d.label]), [[0, 0.4, 'owl'], [0.2, 0.8, 'fox'], [0.6, 1, 'bat']]);
  assert.deepEqual(result.detections[1].top_k.map((t) => t.label), ['fox', 'owl']);
  const meanFox = (0.05 + 0.5 + 0.5 + 0.1) / 4;
  assert.ok(Math.abs(result.probabilities.fox - meanFox) < 1e-7);
  assert.equal(result.label, 'owl'); // mean owl 0.4 > fox 0.2875
  assert.deepEqual(result.model, { name: 'ultralight_audio', run_id: 'r1' });
});

test('unsure windows go to the server; its answer replaces them (source server)', async () => {
  const model = await audioModel([]);
  const posted = [];
  const fetch = async (url, init) => {
    posted.push({ url, init });
    return jsonResponse({ label: 'owl', confidence: 0.97, probabilities: { owl: 0.97, fox: 0.03 }, source: 'server', model: { name: 'big' } });
  };
  const result = await predictWithEdge({ samples: recording(), sampleRate: 10 }, { model, threshold: 0.8, serverUrl: 'http://127.0.0.1:5002', fetch });
  assert.equal(posted.length, 2); // the two 0.5-confidence windows
  assert.equal(posted[0].url, 'http://127.0.0.1:5002/api/predict');
  assert.match(posted[0].init.headers['content-type'], /^multipart\/form-data; boundary=/);
  assert.deepEqual(result.windows.map((w) => w.source), ['edge', 'server', 'server', 'edge']);
  assert.deepEqual(result.windows[1].probabilities, { owl: Math.fround(0.97), fox: Math.fround(0.03), bat: 0 });
  assert.equal(result.source, 'mixed');
  assert.deepEqual(result.detections.map((d) => [d.label, d.source]), [['owl', 'edge'], ['owl', 'server'], ['bat', 'edge']]);
  // The posted file is a 16-bit WAV of the window's audio at the model's rate.
  const body = Buffer.from(posted[0].init.body);
  const start = body.indexOf('RIFF');
  const end = body.lastIndexOf('\r\n--');
  const wav = decodeWav(new Uint8Array(body.subarray(start, end)));
  assert.equal(wav.sampleRate, 10);
  assert.deepEqual(Array.from(wav.samples).map((v) => Math.round(v)), [1, 0, 1, 0]);
  assert.match(body.toString('latin1'), /name="file"; filename="recording_0\.200s\.wav"\r\nContent-Type: audio\/wav/);
});

test('server down, erroring, slow or with other labels: the edge answer is kept, flagged fallback_failed', async () => {
  const model = await audioModel([]);
  const cases = [
    [async () => { throw new TypeError('fetch failed'); }, /fetch failed/],
    [async () => jsonResponse({ detail: 'boom' }, 500), /HTTP 500/],
    [async () => jsonResponse('<html>'), /non-JSON/],
    [async () => jsonResponse({ label: 'wolf', confidence: 1, probabilities: { wolf: 1 } }), /labels the edge model lacks \(wolf\)/],
    [() => new Promise(() => {}), /did not answer within 30 ms/],
  ];
  for (const [fetch, message] of cases) {
    const result = await predictWithEdge({ samples: Float32Array.from([1, 0, 0]), sampleRate: 10 }, { model, threshold: 0.8, serverUrl: 'http://localhost:1', timeoutMs: 30, fetch });
    assert.equal(result.source, 'edge');
    assert.equal(result.label, 'fox');
    assert.equal(result.fallback_failed, true);
    assert.match(result.fallback_error, message);
  }
});

test('circuit breaker: after three failures in a row the server is skipped until the cooldown ends', async () => {
  let now = 0;
  let calls = 0;
  const client = new ServerClient('http://localhost:9', { fetch: async () => { calls += 1; throw new Error('refused'); }, now: () => now, cooldownMs: 1000 });
  for (let i = 0; i < 4; i += 1) await assert.rejects(client.predict(new Uint8Array(1), 'a.wav', 'audio/wav'), FallbackFailedError);
  assert.equal(calls, 3);
  await assert.rejects(client.predict(new Uint8Array(1), 'a.wav', 'audio/wav'), /skipped after 3 failures/);
  now = 1001;
  await assert.rejects(client.predict(new Uint8Array(1), 'a.wav', 'audio/wav'), /refused/);
  assert.equal(calls, 4);
});

test('photo: normalised NCHW input; fallback posts a PNG (or the app\'s original file)', async () => {
  const spec = { kind: 'image', image_size: 2, channels: 3, mean: [0, 0, 0], std: [1, 1, 1] };
  const calls = [];
  const model = await loadEdgeModel({ ort: fakeOrt(calls), model: 'm.onnx', manifest: manifest(spec) });
  const pixels = new Uint8Array(12);
  pixels[0] = 255; // first value of the red plane = 1.0 -> "fox", unsure
  const posted = [];
  const fetch = async (url, init) => {
    posted.push(Buffer.from(init.body).toString('latin1'));
    return jsonResponse({ label: 'bat', confidence: 0.9, probabilities: { owl: 0.05, fox: 0.05, bat: 0.9 }, model: { name: 'server_photo', run_id: 'r9' } });
  };
  const edge = await predictWithEdge({ pixels, width: 2, height: 2 }, { model });
  assert.deepEqual(calls[0], [1, 3, 2, 2]);
  assert.deepEqual([edge.label, edge.source], ['fox', 'edge']);
  const served = await predictWithEdge({ pixels, width: 2, height: 2 }, { model, threshold: 0.6, serverUrl: 'http://h:1', fetch });
  assert.deepEqual([served.label, served.confidence, served.source, served.model.name], ['bat', Math.fround(0.9), 'server', 'server_photo']);
  assert.match(posted[0], /filename="image\.png"\r\nContent-Type: image\/png\r\n\r\n\x89PNG/);
  const file = { bytes: new TextEncoder().encode('JPEGDATA'), filename: 'trap.jpg', type: 'image/jpeg' };
  await predictWithEdge({ pixels, width: 2, height: 2, file }, { model, threshold: 0.6, serverUrl: 'http://h:1', fetch });
  assert.match(posted[1], /filename="trap\.jpg"\r\nContent-Type: image\/jpeg\r\n\r\nJPEGDATA\r\n/);
});

test('wrong input kind, bad options and a missing model fail with what to do', async () => {
  const model = await audioModel([]);
  await assert.rejects(predictWithEdge({ pixels: new Uint8Array(12), width: 2, height: 2 }, { model }), /classifies audio; pass \{samples, sampleRate\}/);
  await assert.rejects(predictWithEdge({ samples: new Float32Array(0), sampleRate: 10 }, { model }), /zero length/);
  await assert.rejects(predictWithEdge({ samples: [0, 1], sampleRate: 10 }, { model }), /Float32Array/);
  await assert.rejects(predictWithEdge({ samples: new Float32Array(4), sampleRate: 10 }, { model, threshold: 80 }), /between 0 and 1/);
  await assert.rejects(predictWithEdge({ samples: new Float32Array(4), sampleRate: 10 }, {}), /pass the loaded model/);
  await assert.rejects(predictWithEdge({ samples: new Float32Array(4), sampleRate: 10 }, { model, topK: 0 }), /topK must be an integer/);
  await assert.rejects(predictWithEdge({ samples: new Float32Array(4), sampleRate: 10 }, { model, serverUrl: 'ftp://x' }), /http:\/\/ or https:\/\//);
  await assert.rejects(loadEdgeModel({ model: new Uint8Array(4) }), /pass the ONNX Runtime module/);
  await assert.rejects(loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx' }), /needs its manifest/);
  await assert.rejects(loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx', manifest: { ...manifest(AUDIO_SPEC), input: { ...manifest(AUDIO_SPEC).input, name: 'waveform' } } }), /names input 'waveform'/);
});

test('static-batch models are run one input at a time', async () => {
  const calls = [];
  const model = await loadEdgeModel({ ort: fakeOrt(calls), model: 'm.onnx', manifest: { ...manifest(AUDIO_SPEC), input: { ...manifest(AUDIO_SPEC).input, shape: [1, 4] } } });
  assert.ok(model instanceof EdgeModel);
  await predictWithEdge({ samples: recording(), sampleRate: 10 }, { model });
  assert.deepEqual(calls, [[1, 4], [1, 4], [1, 4], [1, 4]]);
});

test('temperature: applied only when the export says the model output lacks it', async () => {
  const spec = manifest(AUDIO_SPEC, { temperature: 2 });
  const baked = await loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx', manifest: spec });
  assert.equal(baked.temperature, null); // output.temperature_applied absent -> already in the graph
  const notBaked = await loadEdgeModel({ ort: fakeOrt(), model: 'm.onnx', manifest: { ...spec, output: { ...spec.output, temperature_applied: false } } });
  assert.equal(notBaked.temperature, 2);
  const result = await predictWithEdge({ samples: Float32Array.from([2, 0, 0, 0]), sampleRate: 10 }, { model: notBaked });
  const expected = [0.1, 0.1, 0.8].map(Math.sqrt);
  const total = expected.reduce((a, b) => a + b);
  assert.ok(Math.abs(result.confidence - expected[2] / total) < 1e-7);
});

test('temperature scaling matches softmax(log(p) / T)', () => {
  const p = Float32Array.from([0.7, 0.2, 0.1]);
  assert.equal(calibrate(p, null)[0], p[0]);
  const scaled = calibrate(p, 2);
  const expected = [0.7, 0.2, 0.1].map((v) => Math.sqrt(v));
  const total = expected.reduce((a, b) => a + b);
  expected.forEach((value, i) => assert.ok(Math.abs(scaled[i] - value / total) < 1e-7));
});

test('server URL and multipart helpers', () => {
  assert.equal(predictUrl('http://10.0.0.2:5002/'), 'http://10.0.0.2:5002/api/predict');
  assert.equal(predictUrl('https://x.org/nightscan/api/predict'), 'https://x.org/nightscan/api/predict');
  assert.throws(() => predictUrl('not a url'), /http:\/\/host:port/);
  const { body, contentType } = multipartBody(new Uint8Array([1, 2]), 'a"b.wav', 'audio/wav');
  const boundary = contentType.split('boundary=')[1];
  const textBody = Buffer.from(body).toString('latin1');
  assert.ok(textBody.startsWith(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="ab.wav"`));
  assert.ok(textBody.endsWith(`\r\n--${boundary}--\r\n`));
});

test('the background class is never reported as a detection', () => {
  const labels = ['owl', 'background'];
  const window = (start, scores) => ({
    start_s: start, end_s: start + 3, label: labels[scores[0] > scores[1] ? 0 : 1],
    confidence: Math.max(...scores), source: 'edge', fallback_failed: false, scores: Float32Array.from(scores),
  });
  const detections = reportedDetections([window(0, [0.1, 0.9]), window(1.5, [0.8, 0.2]), window(3, [0.3, 0.7])], labels);
  assert.deepEqual(detections.map((d) => [d.label, d.start_s, d.end_s]), [['owl', 1.5, 4.5]]);
});
