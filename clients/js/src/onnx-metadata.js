/**
 * Read `metadata_props` from ONNX model bytes without a protobuf library.
 *
 * ONNX Runtime's JS API does not expose custom metadata, yet the export embeds the manifest there, so the
 * app can ship the `.onnx` file alone. ModelProto field 14 is `repeated StringStringEntryProto
 * metadata_props` ({key = 1, value = 2}); everything else, the graph included, is skipped by length, so
 * reading a 1 MB model costs a few microseconds.
 */

import { asBytes, decodeUtf8 } from './bytes.js';

const MODEL_METADATA_PROPS_FIELD = 14;
const ENTRY_KEY_FIELD = 1;
const ENTRY_VALUE_FIELD = 2;

const WIRE_VARINT = 0;
const WIRE_FIXED64 = 1;
const WIRE_LENGTH_DELIMITED = 2;
const WIRE_FIXED32 = 5;

export class OnnxFormatError extends Error {
  constructor(message) {
    super(message);
    this.name = 'OnnxFormatError';
  }
}

/** @param {Uint8Array} bytes @param {number} offset @returns {[number, number]} value and next offset */
function readVarint(bytes, offset) {
  let value = 0;
  let scale = 1;
  for (let position = offset; position < bytes.length; position += 1) {
    const byte = bytes[position];
    value += (byte & 0x7f) * scale; // multiplication, not <<, keeps values above 2^31 exact
    if ((byte & 0x80) === 0) return [value, position + 1];
    scale *= 128;
    if (position - offset > 9) break;
  }
  throw new OnnxFormatError('truncated or invalid varint: the file is not an ONNX model (or is truncated)');
}

/**
 * Iterate the fields of one protobuf message.
 * @param {Uint8Array} bytes
 * @returns {Generator<{field: number, wireType: number, value: number | Uint8Array}>}
 */
function* protobufFields(bytes) {
  let offset = 0;
  while (offset < bytes.length) {
    const [tag, afterTag] = readVarint(bytes, offset);
    const field = Math.floor(tag / 8);
    const wireType = tag % 8;
    if (field === 0) throw new OnnxFormatError('field number 0 found: the file is not an ONNX model');
    offset = afterTag;
    if (wireType === WIRE_VARINT) {
      const [value, next] = readVarint(bytes, offset);
      offset = next;
      yield { field, wireType, value };
    } else if (wireType === WIRE_LENGTH_DELIMITED) {
      const [length, start] = readVarint(bytes, offset);
      const end = start + length;
      if (end > bytes.length) {
        throw new OnnxFormatError('a field runs past the end of the file: the ONNX model is truncated');
      }
      offset = end;
      yield { field, wireType, value: bytes.subarray(start, end) };
    } else if (wireType === WIRE_FIXED64 || wireType === WIRE_FIXED32) {
      offset += wireType === WIRE_FIXED64 ? 8 : 4;
      if (offset > bytes.length) throw new OnnxFormatError('truncated fixed-width field: the ONNX model is truncated');
    } else {
      throw new OnnxFormatError(`unsupported protobuf wire type ${wireType}: the file is not an ONNX model`);
    }
  }
}

/**
 * All `metadata_props` of an ONNX model as a plain object.
 * @param {Uint8Array | ArrayBuffer} modelBytes
 * @returns {Record<string, string>}
 */
export function readOnnxMetadata(modelBytes) {
  const bytes = asBytes(modelBytes);
  const metadata = {};
  for (const { field, wireType, value } of protobufFields(bytes)) {
    if (field !== MODEL_METADATA_PROPS_FIELD || wireType !== WIRE_LENGTH_DELIMITED) continue;
    let key = '';
    let text = '';
    for (const entry of protobufFields(/** @type {Uint8Array} */ (value))) {
      if (entry.wireType !== WIRE_LENGTH_DELIMITED) continue;
      if (entry.field === ENTRY_KEY_FIELD) key = decodeUtf8(entry.value);
      else if (entry.field === ENTRY_VALUE_FIELD) text = decodeUtf8(entry.value);
    }
    metadata[key] = text;
  }
  return metadata;
}
