/**
 * Client for the server's `POST /api/predict` (the fallback), with a timeout and a circuit breaker.
 *
 * Same policy as Python's `nightscan_edge.predict.server_client.ServerClient`: a call that fails, times out
 * or gets a non-200 answer counts as a failure; after `maxFailures` in a row the server is not asked for
 * `cooldownMs`, so a dead server does not cost one timeout per window of a long recording. The multipart
 * body is built by hand as bytes, so it needs neither `FormData` nor `Blob` (which React Native lacks for
 * binary data); any `fetch` that accepts a `Uint8Array` body works, and one can be injected.
 */

import { encodeUtf8 } from './bytes.js';

export const PREDICT_PATH = '/api/predict';

export class FallbackFailedError extends Error {
  constructor(message) {
    super(message);
    this.name = 'FallbackFailedError';
  }
}

/** `http://host:port` -> `http://host:port/api/predict`; a URL with a path is used as given. */
export function predictUrl(serverUrl) {
  let parsed;
  try {
    parsed = new URL(serverUrl);
  } catch {
    throw new TypeError(`server URL '${serverUrl}' must look like http://host:port`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw new TypeError(`server URL '${serverUrl}' must start with http:// or https://`);
  return parsed.pathname === '/' || parsed.pathname === '' ? `${parsed.origin}${PREDICT_PATH}` : serverUrl;
}


/** multipart/form-data with one file field named `file`. */
export function multipartBody(bytes, filename, contentType) {
  const boundary = `----nightscan${Math.random().toString(16).slice(2)}${Date.now().toString(16)}`;
  const head = encodeUtf8(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${filename.replace(/"/g, '')}"\r\n` +
      `Content-Type: ${contentType}\r\n\r\n`,
  );
  const tail = encodeUtf8(`\r\n--${boundary}--\r\n`);
  const body = new Uint8Array(head.length + bytes.length + tail.length);
  body.set(head, 0);
  body.set(bytes, head.length);
  body.set(tail, head.length + bytes.length);
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

function checkAnswer(answer) {
  if (
    !answer || typeof answer !== 'object' || typeof answer.label !== 'string' || typeof answer.confidence !== 'number' ||
    !answer.probabilities || typeof answer.probabilities !== 'object'
  ) {
    throw new FallbackFailedError('server answered without label/confidence/probabilities: is it a NightScan Edge server?');
  }
  return answer;
}

export class ServerClient {
  /**
   * @param {string} serverUrl e.g. `http://192.168.1.10:5002`
   * @param {{timeoutMs?: number, maxFailures?: number, cooldownMs?: number, fetch?: typeof fetch, now?: () => number}} [options]
   */
  constructor(serverUrl, { timeoutMs = 5000, maxFailures = 3, cooldownMs = 30000, fetch: fetchImpl, now } = {}) {
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive; got ${timeoutMs}`);
    this.url = predictUrl(serverUrl);
    this.timeoutMs = timeoutMs;
    this.maxFailures = maxFailures;
    this.cooldownMs = cooldownMs;
    this.fetch = fetchImpl ?? globalThis.fetch;
    if (typeof this.fetch !== 'function') throw new TypeError('no fetch() available here; pass one as `fetch`');
    this.now = now ?? (() => Date.now());
    this.failuresInARow = 0;
    this.skipUntil = 0;
    this.lastError = null;
  }

  /**
   * Post one file; resolves to the server's answer or rejects with `FallbackFailedError`.
   * @param {Uint8Array} bytes @param {string} filename @param {string} contentType
   */
  async predict(bytes, filename, contentType) {
    if (this.now() < this.skipUntil) {
      throw new FallbackFailedError(`server skipped after ${this.maxFailures} failures in a row (${this.lastError})`);
    }
    try {
      const answer = await this.post(bytes, filename, contentType);
      this.failuresInARow = 0;
      return answer;
    } catch (error) {
      this.failuresInARow += 1;
      this.lastError = error instanceof FallbackFailedError ? error.message : `${error?.name ?? 'Error'}: ${error?.message ?? error}`;
      if (this.failuresInARow >= this.maxFailures) this.skipUntil = this.now() + this.cooldownMs;
      throw new FallbackFailedError(this.lastError);
    }
  }

  async post(bytes, filename, contentType) {
    const { body, contentType: multipartType } = multipartBody(bytes, filename, contentType);
    const controller = typeof AbortController !== 'undefined' ? new AbortController() : null;
    let timer;
    // The race covers fetch implementations that ignore the abort signal.
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => {
        controller?.abort();
        reject(new FallbackFailedError(`server did not answer within ${this.timeoutMs} ms`));
      }, this.timeoutMs);
    });
    try {
      const response = await Promise.race([
        this.fetch(this.url, { method: 'POST', body, headers: { 'content-type': multipartType }, signal: controller?.signal }),
        timeout,
      ]);
      const text = await Promise.race([response.text(), timeout]);
      if (response.status !== 200) throw new FallbackFailedError(`server answered HTTP ${response.status}: ${text.slice(0, 200)}`);
      let answer;
      try {
        answer = JSON.parse(text);
      } catch {
        throw new FallbackFailedError(`server answered non-JSON: ${text.slice(0, 200)}`);
      }
      return checkAnswer(answer);
    } finally {
      clearTimeout(timer);
    }
  }
}
