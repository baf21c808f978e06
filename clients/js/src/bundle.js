/**
 * Open an export's `bundle.zip` directly: pick the ONNX model (FP32 first, as the Python predictor does)
 * and its manifest, without unpacking it by hand.
 *
 * Only the zip central directory is parsed here; deflated entries are inflated with the platform's
 * `DecompressionStream('deflate-raw')` (Node >= 18, modern browsers) or an injected `inflateRaw`.
 */

import { asBytes, decodeUtf8 } from './bytes.js';
import { loadEdgeModel } from './model.js';

/** ONNX files in a bundle, in the order they are preferred. */
export const BUNDLE_ONNX_PREFERENCE = ['model.onnx', 'model_int8.onnx'];

export class BundleError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BundleError';
  }
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_ENTRY = 0x02014b50;
const LOCAL_ENTRY = 0x04034b50;

/**
 * The entries of a zip archive: name -> {method, offset, compressedSize}.
 * @param {Uint8Array} bytes
 */
export function zipEntries(bytes) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let offset = bytes.length - 22; offset >= Math.max(0, bytes.length - 22 - 65535); offset -= 1) {
    if (view.getUint32(offset, true) === END_OF_CENTRAL_DIRECTORY) {
      end = offset;
      break;
    }
  }
  if (end < 0) throw new BundleError('not a zip archive (no end-of-central-directory record); pass the export\'s bundle.zip');
  const count = view.getUint16(end + 10, true);
  let offset = view.getUint32(end + 16, true);
  if (offset === 0xffffffff) throw new BundleError('ZIP64 bundles are not supported; unzip it and pass model.onnx');
  const entries = new Map();
  for (let i = 0; i < count; i += 1) {
    if (offset + 46 > bytes.length || view.getUint32(offset, true) !== CENTRAL_ENTRY) throw new BundleError('zip central directory is corrupt; re-download the bundle');
    const nameLength = view.getUint16(offset + 28, true);
    const name = decodeUtf8(bytes.subarray(offset + 46, offset + 46 + nameLength));
    entries.set(name, {
      method: view.getUint16(offset + 10, true),
      compressedSize: view.getUint32(offset + 20, true),
      localOffset: view.getUint32(offset + 42, true),
    });
    offset += 46 + nameLength + view.getUint16(offset + 30, true) + view.getUint16(offset + 32, true);
  }
  return entries;
}

async function platformInflateRaw(data) {
  if (typeof DecompressionStream === 'undefined') {
    throw new BundleError("this platform has no DecompressionStream; pass `inflateRaw` (e.g. pako.inflateRaw) or unzip the bundle and pass model.onnx");
  }
  const stream = new Blob([data]).stream().pipeThrough(new DecompressionStream('deflate-raw'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** The bytes of one zip entry. */
export async function readZipEntry(bytes, entry, inflateRaw = platformInflateRaw) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const local = entry.localOffset;
  if (view.getUint32(local, true) !== LOCAL_ENTRY) throw new BundleError('zip entry header is corrupt; re-download the bundle');
  const start = local + 30 + view.getUint16(local + 26, true) + view.getUint16(local + 28, true);
  const data = bytes.subarray(start, start + entry.compressedSize);
  if (entry.method === 0) return data;
  if (entry.method === 8) return asBytes(await inflateRaw(data));
  throw new BundleError(`zip entry uses compression method ${entry.method}; only stored and deflate are supported`);
}

/**
 * Load the preferred ONNX model of a bundle.zip (its manifest: embedded, else the bundle's manifest.json).
 * @param {{ort: any, bundle: Uint8Array | ArrayBuffer, prefer?: string, sessionOptions?: object, inflateRaw?: (data: Uint8Array) => Promise<Uint8Array> | Uint8Array}} options
 */
export async function loadEdgeBundle({ ort, bundle, prefer, sessionOptions, inflateRaw } = {}) {
  const bytes = asBytes(bundle);
  const entries = zipEntries(bytes);
  const byBaseName = new Map([...entries].map(([name, entry]) => [name.split('/').pop(), entry]));
  const order = prefer ? [prefer] : BUNDLE_ONNX_PREFERENCE;
  const choice = order.find((name) => byBaseName.has(name));
  if (!choice) {
    throw new BundleError(`the bundle holds none of ${order.join(', ')} (has ${[...byBaseName.keys()].join(', ')}); export with --formats onnx`);
  }
  const model = await readZipEntry(bytes, byBaseName.get(choice), inflateRaw);
  let manifest;
  if (byBaseName.has('manifest.json')) {
    manifest = JSON.parse(decodeUtf8(await readZipEntry(bytes, byBaseName.get('manifest.json'), inflateRaw)));
  }
  return loadEdgeModel({ ort, model, manifest, sessionOptions });
}
