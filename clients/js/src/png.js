/**
 * A minimal PNG encoder (8-bit RGB or grey, uncompressed deflate blocks) for posting photos to the server.
 *
 * Lossless, dependency-free and the same on Node, browsers and React Native (no zlib needed): stored
 * deflate blocks are valid zlib data that every PNG decoder, Pillow included, reads. Files are about the
 * size of the raw pixels, which is fine for one camera-trap frame on the fallback path.
 */

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n += 1) {
    let c = n;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes) {
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i += 1) crc = CRC_TABLE[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

function adler32(bytes) {
  let a = 1;
  let b = 0;
  for (let i = 0; i < bytes.length; i += 1) {
    a = (a + bytes[i]) % 65521;
    b = (b + a) % 65521;
  }
  return ((b << 16) | a) >>> 0;
}

const MAX_STORED_BLOCK = 65535;

function zlibStored(raw) {
  const blocks = Math.max(1, Math.ceil(raw.length / MAX_STORED_BLOCK));
  const output = new Uint8Array(2 + raw.length + blocks * 5 + 4);
  output[0] = 0x78; // deflate, 32 KB window
  output[1] = 0x01; // no preset dictionary, fastest; (0x78 * 256 + 0x01) % 31 === 0
  let offset = 2;
  for (let block = 0; block < blocks; block += 1) {
    const start = block * MAX_STORED_BLOCK;
    const length = Math.min(MAX_STORED_BLOCK, raw.length - start);
    output[offset] = block === blocks - 1 ? 1 : 0; // BFINAL, BTYPE=00 (stored)
    output[offset + 1] = length & 0xff;
    output[offset + 2] = length >>> 8;
    output[offset + 3] = ~length & 0xff;
    output[offset + 4] = (~length >>> 8) & 0xff;
    output.set(raw.subarray(start, start + length), offset + 5);
    offset += 5 + length;
  }
  const checksum = adler32(raw);
  output.set([checksum >>> 24, (checksum >>> 16) & 0xff, (checksum >>> 8) & 0xff, checksum & 0xff], offset);
  return output;
}

function chunk(type, data) {
  const output = new Uint8Array(12 + data.length);
  const view = new DataView(output.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i += 1) output[4 + i] = type.charCodeAt(i);
  output.set(data, 8);
  view.setUint32(8 + data.length, crc32(output.subarray(4, 8 + data.length)));
  return output;
}

/**
 * @param {Uint8Array | Uint8ClampedArray} pixels interleaved 8-bit, `channels` per pixel (1 grey, 3 RGB, 4 RGBA)
 * @returns {Uint8Array} PNG file bytes
 */
export function encodePng(pixels, width, height, channels) {
  const colourType = { 1: 0, 3: 2, 4: 6 }[channels];
  if (colourType === undefined) throw new RangeError(`PNG encoder takes 1, 3 or 4 channels; got ${channels}`);
  const rowBytes = width * channels;
  const raw = new Uint8Array((rowBytes + 1) * height);
  for (let y = 0; y < height; y += 1) {
    raw[y * (rowBytes + 1)] = 0; // filter type None
    raw.set(pixels.subarray(y * rowBytes, (y + 1) * rowBytes), y * (rowBytes + 1) + 1);
  }
  const header = new Uint8Array(13);
  const headerView = new DataView(header.buffer);
  headerView.setUint32(0, width);
  headerView.setUint32(4, height);
  header.set([8, colourType, 0, 0, 0], 8);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlibStored(raw)),
    chunk('IEND', new Uint8Array(0)),
  ];
  const output = new Uint8Array(parts.reduce((total, part) => total + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    output.set(part, offset);
    offset += part.length;
  }
  return output;
}
