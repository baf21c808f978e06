/**
 * `EdgeModel`: one exported ONNX model opened with an injected ONNX Runtime, plus its manifest.
 *
 * The ONNX Runtime module is passed in (`onnxruntime-node`, `onnxruntime-web` or
 * `onnxruntime-react-native`: they share one API), so the same code runs in tests, browsers and apps.
 * `probabilities()` returns calibrated class probabilities exactly as the Python predictor computes them
 * (`nightscan_edge.predict.classifier.Classifier.probabilities`).
 */

import { asBytes } from './bytes.js';
import { ManifestError, readManifestFromOnnx, validateManifest } from './manifest.js';

/** Windows per ONNX Runtime call when the batch axis is dynamic (same as the Python predictor). */
export const EDGE_BATCH_SIZE = 64;

/**
 * Temperature scaling of probabilities: softmax(log(p) / T), computed in float64 and rounded to float32,
 * as Python's `calibrate` does. No temperature (or T = 1) returns the probabilities unchanged.
 * @param {Float32Array} probabilities one row
 * @param {number | null | undefined} temperature
 * @returns {Float32Array}
 */
export function calibrate(probabilities, temperature) {
  if (temperature === null || temperature === undefined || temperature === 1) return Float32Array.from(probabilities);
  const logits = Array.from(probabilities, (p) => Math.log(Math.min(Math.max(p, 1e-12), 1)) / temperature);
  const largest = Math.max(...logits);
  const exps = logits.map((logit) => Math.exp(logit - largest));
  const total = exps.reduce((sum, value) => sum + value, 0);
  return Float32Array.from(exps, (value) => value / total);
}

function isDynamicBatch(manifest, session) {
  const shape = manifest.input?.shape;
  if (Array.isArray(shape) && shape.length > 0) return typeof shape[0] !== 'number' || shape[0] < 0;
  const metadata = session.inputMetadata?.[0];
  if (metadata?.isTensor && Array.isArray(metadata.shape)) return typeof metadata.shape[0] !== 'number' || metadata.shape[0] < 0;
  return false;
}

export class EdgeModel {
  /**
   * Use `loadEdgeModel`; the constructor only wires parts together.
   * @param {any} ort @param {any} session @param {import('../types/index.js').Manifest} manifest
   */
  constructor(ort, session, manifest) {
    this.ort = ort;
    this.session = session;
    this.manifest = manifest;
    this.labels = [...manifest.labels];
    this.spec = manifest.input.spec;
    this.kind = this.spec.kind;
    // The exporter bakes the temperature into the softmax (`output.temperature_applied`, true when absent);
    // only an export that says otherwise needs it applied here. Same rule as the Python predictor.
    this.temperature = (manifest.output?.temperature_applied ?? true) ? null : (manifest.temperature ?? null);
    this.inputName = manifest.input.name ?? session.inputNames[0];
    this.outputName = manifest.output?.name ?? session.outputNames[0];
    if (!session.inputNames.includes(this.inputName)) {
      throw new ManifestError(`manifest names input '${this.inputName}' but the model has ${session.inputNames.join(', ')}; the manifest belongs to another model`);
    }
    if (!session.outputNames.includes(this.outputName)) {
      throw new ManifestError(`manifest names output '${this.outputName}' but the model has ${session.outputNames.join(', ')}; the manifest belongs to another model`);
    }
    this.dynamicBatch = isDynamicBatch(manifest, session);
    this.batchSize = this.dynamicBatch ? EDGE_BATCH_SIZE : 1;
    /** @type {Map<string, any>} server clients kept per URL so the circuit breaker spans calls */
    this.serverClients = new Map();
  }

  /** Shape of one model input, without the batch axis. */
  get itemShape() {
    return this.kind === 'audio' ? [this.spec.clip_samples] : [this.spec.channels, this.spec.image_size, this.spec.image_size];
  }

  /**
   * The threshold the export recommends: the lowest confidence at which the edge's kept answers reach the
   * export's target accuracy on the validation split (`manifest.calibration`); null when the export had no
   * labelled data to measure it.
   */
  get recommendedThreshold() {
    return this.manifest.calibration?.recommended_threshold ?? null;
  }

  /** `{name, run_id}` as the server reports its model. */
  /** True for a multi-label export (one sigmoid per class, `thresholds` per label): docs/multilabel.md. */
  get multilabel() {
    return this.manifest.objective === 'multilabel';
  }

  /** A multi-label model's thresholds in label order (Float32Array), or null for a single-label one. */
  get thresholds() {
    if (!this.multilabel) return null;
    return Float32Array.from(this.labels, (label) => this.manifest.thresholds[label]);
  }

  get modelInfo() {
    return { name: this.manifest.model_name ?? '', run_id: this.manifest.run_id ?? '' };
  }

  /**
   * Calibrated probabilities for preprocessed inputs (audio windows or normalised images).
   * @param {Float32Array[]} items each of length prod(itemShape)
   * @returns {Promise<Float32Array[]>} one row of `labels.length` probabilities per item
   */
  async probabilities(items) {
    const itemShape = this.itemShape;
    const itemSize = itemShape.reduce((product, size) => product * size, 1);
    const rows = [];
    for (let first = 0; first < items.length; first += this.batchSize) {
      const batch = items.slice(first, first + this.batchSize);
      const data = new Float32Array(batch.length * itemSize);
      batch.forEach((item, index) => {
        if (item.length !== itemSize) throw new RangeError(`model input needs ${itemSize} values per item; got ${item.length}`);
        data.set(item, index * itemSize);
      });
      const input = new this.ort.Tensor('float32', data, [batch.length, ...itemShape]);
      const outputs = await this.session.run({ [this.inputName]: input });
      const scores = outputs[this.outputName].data;
      const classes = this.labels.length;
      if (scores.length !== batch.length * classes) {
        throw new ManifestError(`model returned ${scores.length / batch.length} scores per input for ${classes} labels; the manifest belongs to another model`);
      }
      for (let index = 0; index < batch.length; index += 1) {
        rows.push(calibrate(scores.subarray(index * classes, (index + 1) * classes), this.temperature));
      }
    }
    return rows;
  }
}

/**
 * Open an exported model.
 * @param {{ort: any, model: Uint8Array | ArrayBuffer | string, manifest?: object, sessionOptions?: object}} options
 *   `model`: the `.onnx` bytes (its embedded manifest is read), or a path/URL ONNX Runtime can open itself
 *   (then `manifest` is required). A `manifest` given with bytes must agree with the embedded one.
 * @returns {Promise<EdgeModel>}
 */
export async function loadEdgeModel({ ort, model, manifest, sessionOptions } = {}) {
  if (!ort || typeof ort.InferenceSession?.create !== 'function' || typeof ort.Tensor !== 'function') {
    throw new TypeError("pass the ONNX Runtime module as `ort` (e.g. `import * as ort from 'onnxruntime-node'`)");
  }
  let resolved;
  let source;
  if (typeof model === 'string') {
    if (!manifest) throw new ManifestError('a model given by path/URL needs its manifest: pass `manifest` (the manifest.json beside it) or the model bytes');
    resolved = validateManifest(manifest);
    source = model;
  } else if (model !== undefined && model !== null) {
    source = asBytes(model);
    let embedded = null;
    try {
      embedded = readManifestFromOnnx(source);
    } catch (error) {
      if (!(error instanceof ManifestError) || !manifest) throw error;
    }
    if (embedded && manifest && JSON.stringify(embedded.labels) !== JSON.stringify(manifest.labels)) {
      throw new ManifestError('the manifest passed in has other labels than the one embedded in the model; it belongs to another export');
    }
    resolved = validateManifest(embedded ?? manifest);
  } else {
    throw new TypeError('pass `model`: the .onnx file bytes (Uint8Array/ArrayBuffer) or a path/URL with `manifest`');
  }
  const session = await ort.InferenceSession.create(source, sessionOptions ?? {});
  return new EdgeModel(ort, session, resolved);
}
