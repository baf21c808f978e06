import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';

import { imageToTensor, resizeBilinear } from '../src/image.js';
import { ManifestError, readManifestFromOnnx, validateManifest } from '../src/manifest.js';
import { OnnxFormatError, readOnnxMetadata } from '../src/onnx-metadata.js';
import { encodePng } from '../src/png.js';

function varint(value) {
  const bytes = [];
  while (value >= 128) {
    bytes.push((value % 128) | 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return bytes;
}

const field = (number, payload) => [...varint(number * 8 + 2), ...varint(payload.length), ...payload];
const text = (value) => [...new TextEncoder().encode(value)];

/** A ModelProto with ir_version, a dummy graph and the given metadata_props. */
function onnxBytes(metadata, graphBytes = 300) {
  const parts = [...varint(1 * 8), ...varint(9)]; // ir_version = 9 (varint field)
  parts.push(...field(7, new Array(graphBytes).fill(7))); // graph: skipped by length
  parts.push(0x3d, 1, 2, 3, 4); // field 7 wire type 5 (fixed32) also skipped
  for (const [key, value] of Object.entries(metadata)) parts.push(...field(14, [...field(1, text(key)), ...field(2, text(value))]));
  return new Uint8Array(parts);
}

const audioManifest = {
  labels: ['owl', 'fox'],
  input: { name: 'input', shape: [-1, 16], spec: { kind: 'audio', sample_rate: 8000, clip_samples: 16, pad_mode: 'loop' } },
  output: { name: 'probabilities', meaning: 'probabilities' },
  temperature: null,
};

test('ONNX metadata_props are read without a protobuf library (UTF-8, large graph skipped)', () => {
  const bytes = onnxBytes({ nightscan_manifest: JSON.stringify(audioManifest), note: 'chouette hulotte — été' }, 70000);
  const metadata = readOnnxMetadata(bytes.buffer);
  assert.equal(metadata.note, 'chouette hulotte — été');
  assert.deepEqual(readManifestFromOnnx(bytes), audioManifest);
});

test('a model without manifest, a truncated file and a non-ONNX file fail clearly', () => {
  assert.throws(() => readManifestFromOnnx(onnxBytes({ producer: 'x' })), (error) => error instanceof ManifestError && /found: producer/.test(error.message));
  const truncated = onnxBytes({ nightscan_manifest: '{}' }).subarray(0, 100);
  assert.throws(() => readOnnxMetadata(truncated), OnnxFormatError);
  assert.throws(() => readOnnxMetadata(new TextEncoder().encode('RIFF....WAVEfmt ')), OnnxFormatError);
  assert.throws(() => readManifestFromOnnx(onnxBytes({ nightscan_manifest: '{not json' })), /not valid JSON/);
});

test('manifest validation names what is missing', () => {
  assert.equal(validateManifest(audioManifest), audioManifest);
  assert.throws(() => validateManifest({ ...audioManifest, labels: [] }), /labels/);
  assert.throws(() => validateManifest({ ...audioManifest, input: { spec: { kind: 'video' } } }), /kind 'video'/);
  assert.throws(() => validateManifest({ ...audioManifest, output: { meaning: 'logits' } }), /output is 'logits'/);
  assert.throws(() => validateManifest({ ...audioManifest, temperature: -1 }), /temperature/);
  const image = { labels: ['a'], input: { spec: { kind: 'image', image_size: 8, channels: 3, mean: [0, 0], std: [1, 1, 1] } } };
  assert.throws(() => validateManifest(image), /one value per channel/);
});

test('PNG encoder writes a valid file (chunks, CRCs, zlib stream) for RGB and grey', () => {
  const width = 300; // rows of 901 bytes: several stored deflate blocks in all
  const height = 80;
  const pixels = Uint8Array.from({ length: width * height * 3 }, (_, i) => (i * 7) % 256);
  const png = encodePng(pixels, width, height, 3);
  assert.deepEqual(Array.from(png.subarray(0, 8)), [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const view = new DataView(png.buffer);
  let offset = 8;
  const chunks = {};
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...png.subarray(offset + 4, offset + 8));
    chunks[type] = png.subarray(offset + 8, offset + 8 + length);
    offset += 12 + length;
  }
  assert.deepEqual(Object.keys(chunks), ['IHDR', 'IDAT', 'IEND']);
  assert.equal(new DataView(chunks.IHDR.buffer, chunks.IHDR.byteOffset).getUint32(0), width);
  const raw = inflateSync(chunks.IDAT); // verifies the Adler-32 checksum too
  assert.equal(raw.length, (width * 3 + 1) * height);
  assert.deepEqual(Array.from(raw.subarray(1, 10)), Array.from(pixels.subarray(0, 9)));
  assert.equal(encodePng(new Uint8Array(4), 2, 2, 1)[25], 0); // colour type grey
  assert.throws(() => encodePng(new Uint8Array(4), 2, 1, 2), /1, 3 or 4 channels/);
});

test('bilinear resize: identity at the same size, constant images stay constant, shrinking matches Pillow', () => {
  const pixels = Uint8Array.from({ length: 5 * 4 * 3 }, (_, i) => i);
  assert.deepEqual(Array.from(resizeBilinear(pixels, 5, 4, 3, 5, 4)), Array.from(pixels));
  const flat = new Uint8Array(7 * 3 * 3).fill(200);
  assert.ok(resizeBilinear(flat, 7, 3, 3, 4, 9).every((value) => value === 200));
  const stripes = Uint8Array.from({ length: 8 }, (_, i) => (i % 2 ? 255 : 0)); // 8x1 grey
  // Pillow: Image.fromarray(np.array([[0, 255] * 4], np.uint8)).resize((4, 1), Image.BILINEAR)
  assert.deepEqual(Array.from(resizeBilinear(stripes, 8, 1, 1, 4, 1)), [109, 128, 128, 146]);
});

test('image tensor: channel conversion, scaling and normalisation per the spec', () => {
  const spec = { image_size: 2, channels: 3, mean: [0.5, 0.5, 0.5], std: [0.5, 0.25, 1] };
  const rgba = Uint8ClampedArray.from([255, 0, 51, 9, 255, 0, 51, 9, 255, 0, 51, 9, 255, 0, 51, 9]);
  const tensor = imageToTensor({ pixels: rgba, width: 2, height: 2 }, spec);
  assert.equal(tensor.length, 12);
  assert.deepEqual(Array.from(tensor.subarray(0, 4)), [1, 1, 1, 1]); // red plane: (1 - 0.5) / 0.5
  assert.deepEqual(Array.from(tensor.subarray(4, 8)), [-2, -2, -2, -2]); // green: (0 - 0.5) / 0.25
  assert.ok(Math.abs(tensor[8] - (0.2 - 0.5)) < 1e-6);
  const grey = imageToTensor({ pixels: Uint8Array.from([255, 0, 0, 0, 0, 0]), width: 2, height: 1 }, { image_size: 2, channels: 1, mean: [0], std: [1] });
  assert.equal(grey.length, 4); // resized 2x1 -> 2x2 after L conversion (ITU-R 601 red weight 0.299)
  assert.ok(Math.abs(grey[0] - 76 / 255) < 1e-6);
  assert.throws(() => imageToTensor({ pixels: new Uint8Array(5), width: 2, height: 2 }, spec), /expected 12 \(RGB\)/);
  assert.throws(() => imageToTensor({ pixels: new Float32Array(12), width: 2, height: 2 }, spec), /Uint8Array/);
});

test('a grey (IR) photo feeds a 3-channel model with the manifest ImageNet mean/std per channel', () => {
  // EfficientNet-Lite0's manifest spec: ImageNet normalisation, RGB; night cameras give 1-channel frames
  const spec = { image_size: 2, channels: 3, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
  const grey = imageToTensor({ pixels: Uint8Array.from([0, 255, 255, 0]), width: 2, height: 2 }, spec);
  assert.equal(grey.length, 12);
  for (let c = 0; c < 3; c += 1) {
    const plane = grey.subarray(4 * c, 4 * c + 4);
    assert.ok(Math.abs(plane[0] - (0 - spec.mean[c]) / spec.std[c]) < 1e-5);
    assert.ok(Math.abs(plane[1] - (1 - spec.mean[c]) / spec.std[c]) < 1e-5);
  }
});

test('bundle reader: not a zip, or a zip without an ONNX model, fails with what to do', async () => {
  const { deflateRawSync } = await import('node:zlib');
  const { loadEdgeBundle, zipEntries, readZipEntry } = await import('../src/bundle.js');
  assert.throws(() => zipEntries(new Uint8Array(100)), /not a zip archive/);
  // A one-entry zip (deflated) written by hand: local header, data, central directory, end record.
  const name = Buffer.from('labels.txt');
  const content = Buffer.from('owl\nfox\n');
  const packed = deflateRawSync(content);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(packed.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(name.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(packed.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(name.length, 28);
  central.writeUInt32LE(0, 42);
  const centralOffset = local.length + name.length + packed.length;
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(central.length + name.length, 12);
  end.writeUInt32LE(centralOffset, 16);
  const zip = new Uint8Array(Buffer.concat([local, name, packed, central, name, end]));
  const entries = zipEntries(zip);
  assert.deepEqual([...entries.keys()], ['labels.txt']);
  assert.equal(Buffer.from(await readZipEntry(zip, entries.get('labels.txt'))).toString(), 'owl\nfox\n');
  const ort = { InferenceSession: { create: async () => ({}) }, Tensor: class {} };
  await assert.rejects(loadEdgeBundle({ ort, bundle: zip }), /holds none of model\.onnx, model_int8\.onnx \(has labels\.txt\)/);
});

test('UTF-8 helpers work without TextEncoder/TextDecoder (older React Native engines)', async () => {
  const { decodeUtf8, encodeUtf8 } = await import('../src/bytes.js');
  const text = 'chouette — été 🦉 owl';
  const expected = new TextEncoder().encode(text);
  const saved = { TextEncoder: globalThis.TextEncoder, TextDecoder: globalThis.TextDecoder };
  try {
    delete globalThis.TextEncoder;
    delete globalThis.TextDecoder;
    assert.deepEqual(Array.from(encodeUtf8(text)), Array.from(expected));
    assert.equal(decodeUtf8(expected), text);
  } finally {
    Object.assign(globalThis, saved);
  }
});
