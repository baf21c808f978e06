/**
 * Byte helpers that work on every JavaScript platform the client targets, including React Native engines
 * without `TextEncoder`/`TextDecoder`.
 */

/** UTF-8 decoding that also works where `TextDecoder` is missing (older React Native engines). */
export function decodeUtf8(bytes) {
  if (typeof TextDecoder !== 'undefined') return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  let text = '';
  for (let i = 0; i < bytes.length; ) {
    const byte = bytes[i];
    let codePoint;
    let extra;
    if (byte < 0x80) [codePoint, extra] = [byte, 0];
    else if (byte >= 0xf0) [codePoint, extra] = [byte & 0x07, 3];
    else if (byte >= 0xe0) [codePoint, extra] = [byte & 0x0f, 2];
    else [codePoint, extra] = [byte & 0x1f, 1];
    for (let k = 1; k <= extra; k += 1) codePoint = codePoint * 64 + (bytes[i + k] & 0x3f);
    text += String.fromCodePoint(codePoint);
    i += extra + 1;
  }
  return text;
}

/** @param {Uint8Array | ArrayBuffer | ArrayBufferView} data */
export function asBytes(data) {
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('expected model bytes as Uint8Array or ArrayBuffer');
}

/** UTF-8 encoding with the same fallback. */
export function encodeUtf8(text) {
  if (typeof TextEncoder !== 'undefined') return new TextEncoder().encode(text);
  const bytes = [];
  for (const character of text) {
    const codePoint = character.codePointAt(0);
    if (codePoint < 0x80) bytes.push(codePoint);
    else if (codePoint < 0x800) bytes.push(0xc0 | (codePoint >> 6), 0x80 | (codePoint & 0x3f));
    else if (codePoint < 0x10000) bytes.push(0xe0 | (codePoint >> 12), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f));
    else bytes.push(0xf0 | (codePoint >> 18), 0x80 | ((codePoint >> 12) & 0x3f), 0x80 | ((codePoint >> 6) & 0x3f), 0x80 | (codePoint & 0x3f));
  }
  return Uint8Array.from(bytes);
}
