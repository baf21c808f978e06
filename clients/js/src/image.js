/**
 * Photo preprocessing on the app side: pixels -> the normalised NCHW float32 tensor the model takes.
 *
 * Steps follow the manifest's image spec: convert to the model's channel count, resize to
 * `image_size` x `image_size`, scale to [0, 1], subtract `mean`, divide by `std`. The resize is Pillow's
 * `Image.resize(..., BILINEAR)` reproduced step by step (triangle filter widened when shrinking, i.e.
 * antialiased; 22-bit fixed-point weights; rounding to 8 bits after each pass), because Pillow is what the
 * Python side resizes with. Pixels already at `image_size` skip the resize and match Python exactly.
 */

const PRECISION_BITS = 22; // Pillow's Resample.c: 32 - 8 bits of pixel - 2 bits of headroom
const HALF = 1 << (PRECISION_BITS - 1);
const SCALE = 1 << PRECISION_BITS;

function bilinearFilter(x) {
  const distance = Math.abs(x);
  return distance < 1 ? 1 - distance : 0;
}

/** Pillow's `precompute_coeffs` + `normalize_coeffs_8bpc` for one axis. */
function resampleCoefficients(inSize, outSize) {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = 1 * filterScale;
  const taps = [];
  for (let out = 0; out < outSize; out += 1) {
    const centre = (out + 0.5) * scale;
    const first = Math.max(0, Math.trunc(centre - support + 0.5));
    const end = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const weights = [];
    let total = 0;
    for (let x = first; x < end; x += 1) {
      const weight = bilinearFilter((x - centre + 0.5) / filterScale);
      weights.push(weight);
      total += weight;
    }
    const fixed = weights.map((weight) => {
      const normalised = total !== 0 ? weight / total : weight;
      return normalised < 0 ? Math.trunc(-0.5 + normalised * SCALE) : Math.trunc(0.5 + normalised * SCALE);
    });
    taps.push({ first, weights: fixed });
  }
  return taps;
}

function clip8(value) {
  if (value >= SCALE * 256) return 255;
  if (value <= 0) return 0;
  return Math.floor(value / SCALE);
}

/**
 * Resize interleaved 8-bit pixels like Pillow's BILINEAR resize (horizontal pass, then vertical).
 * @param {Uint8Array | Uint8ClampedArray} pixels interleaved, `channels` values per pixel
 * @returns {Uint8Array}
 */
export function resizeBilinear(pixels, width, height, channels, outWidth, outHeight) {
  let current = Uint8Array.from(pixels);
  let currentWidth = width;
  if (outWidth !== width) {
    const taps = resampleCoefficients(width, outWidth);
    const next = new Uint8Array(outWidth * height * channels);
    for (let y = 0; y < height; y += 1) {
      for (let x = 0; x < outWidth; x += 1) {
        const { first, weights } = taps[x];
        for (let c = 0; c < channels; c += 1) {
          let sum = HALF;
          for (let k = 0; k < weights.length; k += 1) sum += current[(y * width + first + k) * channels + c] * weights[k];
          next[(y * outWidth + x) * channels + c] = clip8(sum);
        }
      }
    }
    current = next;
    currentWidth = outWidth;
  }
  if (outHeight !== height) {
    const taps = resampleCoefficients(height, outHeight);
    const next = new Uint8Array(currentWidth * outHeight * channels);
    for (let y = 0; y < outHeight; y += 1) {
      const { first, weights } = taps[y];
      for (let x = 0; x < currentWidth; x += 1) {
        for (let c = 0; c < channels; c += 1) {
          let sum = HALF;
          for (let k = 0; k < weights.length; k += 1) sum += current[((first + k) * currentWidth + x) * channels + c] * weights[k];
          next[(y * currentWidth + x) * channels + c] = clip8(sum);
        }
      }
    }
    current = next;
  }
  return current;
}

/**
 * Interleaved RGB/RGBA/grey pixels -> interleaved pixels with the model's channel count.
 * RGBA alpha is dropped (as Pillow's `convert('RGB')` does); RGB -> grey uses Pillow's ITU-R 601 weights.
 */
function convertChannels(pixels, pixelCount, sourceChannels, targetChannels) {
  if (sourceChannels === targetChannels) return pixels;
  const output = new Uint8Array(pixelCount * targetChannels);
  for (let i = 0; i < pixelCount; i += 1) {
    const source = i * sourceChannels;
    if (targetChannels === 3) {
      if (sourceChannels === 1) output.fill(pixels[source], i * 3, i * 3 + 3);
      else output.set(pixels.subarray(source, source + 3), i * 3);
    } else {
      const [red, green, blue] = sourceChannels === 1
        ? [pixels[source], pixels[source], pixels[source]]
        : [pixels[source], pixels[source + 1], pixels[source + 2]];
      output[i] = (red * 19595 + green * 38470 + blue * 7471 + 0x8000) >>> 16; // Pillow's L conversion
    }
  }
  return output;
}

/**
 * Work out channels per pixel from the buffer length (RGB, RGBA from a canvas' ImageData, or grey).
 * @returns {number}
 */
export function channelsOf(pixels, width, height, channels) {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`width and height must be positive integers; got ${width}x${height}`);
  }
  const found = channels ?? pixels.length / (width * height);
  if (![1, 3, 4].includes(found) || pixels.length !== found * width * height) {
    throw new RangeError(
      `pixels has ${pixels.length} values for ${width}x${height}: expected ${width * height * 3} (RGB), ` +
        `${width * height * 4} (RGBA) or ${width * height} (grey), interleaved 8-bit`,
    );
  }
  return found;
}

/**
 * Pixels -> normalised NCHW float32 tensor data for one image, per the manifest's image spec.
 * @param {{pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, channels?: number}} image
 * @param {{image_size: number, channels: number, mean: number[], std: number[]}} spec
 * @returns {Float32Array} length channels * image_size * image_size
 */
export function imageToTensor(image, spec) {
  const { pixels, width, height } = image;
  if (!(pixels instanceof Uint8Array || pixels instanceof Uint8ClampedArray)) {
    throw new TypeError('image pixels must be a Uint8Array or Uint8ClampedArray of 8-bit values');
  }
  const sourceChannels = channelsOf(pixels, width, height, image.channels);
  const size = spec.image_size;
  const channels = spec.channels;
  const converted = convertChannels(pixels, width * height, sourceChannels, channels);
  const resized = width === size && height === size ? converted : resizeBilinear(converted, width, height, channels, size, size);
  const plane = size * size;
  const tensor = new Float32Array(channels * plane);
  for (let c = 0; c < channels; c += 1) {
    // float32 at each step, like torchvision's to_tensor + normalize on float32 tensors
    const mean = Math.fround(spec.mean[c]);
    const std = Math.fround(spec.std[c]);
    for (let i = 0; i < plane; i += 1) {
      const unit = Math.fround(resized[i * channels + c] / 255);
      tensor[c * plane + i] = Math.fround(Math.fround(unit - mean) / std);
    }
  }
  return tensor;
}
