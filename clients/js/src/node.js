/**
 * Node.js conveniences: open an export from disk (a `.onnx` file or a `bundle.zip`).
 *
 * Kept out of the main entry point so that browser and React Native bundlers never see `node:fs`.
 */

import { readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';

import { loadEdgeBundle } from './bundle.js';
import { ManifestError, readManifestFromOnnx } from './manifest.js';
import { loadEdgeModel } from './model.js';

/**
 * @param {any} ort the `onnxruntime-node` module
 * @param {string} path `model.onnx` (manifest embedded, else `manifest.json` beside it) or `bundle.zip`
 * @param {{sessionOptions?: object}} [options]
 */
export async function loadEdgeModelFromFile(ort, path, { sessionOptions } = {}) {
  let bytes;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new Error(`cannot read ${path} (${error.code ?? error.message}); pass an exported model.onnx or bundle.zip`);
  }
  if (path.toLowerCase().endsWith('.zip')) return loadEdgeBundle({ ort, bundle: bytes, sessionOptions });
  let manifest;
  try {
    readManifestFromOnnx(bytes);
  } catch (error) {
    if (!(error instanceof ManifestError)) throw error;
    const besideIt = join(dirname(path), 'manifest.json');
    try {
      manifest = JSON.parse(await readFile(besideIt, 'utf8'));
    } catch {
      throw new ManifestError(`${error.message} (and no readable ${besideIt})`);
    }
  }
  return loadEdgeModel({ ort, model: bytes, manifest, sessionOptions });
}

/** Read a WAV file from disk as `{wav}` input for `predictWithEdge`. */
export async function readWavFile(path) {
  return { wav: await readFile(path) };
}
