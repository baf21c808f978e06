// Types for @nightscan/edge-client (modern ESM JavaScript; no build step).

/** Preprocessing contract of an audio model (Python `AudioSpec`). */
export interface AudioSpec {
  kind: 'audio';
  sample_rate: number;
  /** Samples per model window. */
  clip_samples: number;
  n_fft?: number;
  hop_length?: number;
  n_mels?: number;
  f_min?: number;
  f_max?: number | null;
  top_db?: number | null;
  /** How recordings shorter than one window are filled. */
  pad_mode?: 'loop' | 'zero';
}

/** Preprocessing contract of a photo model (Python `ImageSpec`). */
export interface ImageSpec {
  kind: 'image';
  image_size: number;
  channels: 1 | 3;
  mean: number[];
  std: number[];
}

export interface CalibrationSummary {
  temperature: number;
  target_accuracy: number;
  recommended_threshold: number | null;
  edge_share_at_threshold: number | null;
  accuracy_at_threshold: number | null;
  [key: string]: unknown;
}

/** The export manifest (embedded in the .onnx file and written beside it as manifest.json). */
export interface Manifest {
  format?: string;
  precision?: string;
  model_name?: string;
  run_id?: string;
  labels: string[];
  input: { name?: string; shape?: number[]; dtype?: string; layout?: string; spec: AudioSpec | ImageSpec };
  output?: { name?: string; meaning?: 'probabilities'; temperature_applied?: boolean; activation?: 'softmax' | 'sigmoid' };
  temperature?: number | null;
  /** 'multilabel': one sigmoid score per class, each compared with its own threshold (docs/multilabel.md). */
  objective?: 'single_label' | 'multilabel';
  /** Multi-label: label -> the score at or above which the class is present. */
  thresholds?: Record<string, number> | null;
  calibration?: CalibrationSummary | null;
  [key: string]: unknown;
}

/** The parts of an ONNX Runtime module used here (onnxruntime-node, -web and -react-native all fit). */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array | string, options?: object): Promise<any> };
  Tensor: new (type: 'float32', data: Float32Array, dims: number[]) => any;
}

export type AudioInput = { samples: Float32Array; sampleRate: number };
export type WavInput = { wav: Uint8Array | ArrayBuffer };
export interface ImageInput {
  /** Interleaved 8-bit pixels: RGB, RGBA (e.g. canvas ImageData.data) or grey. */
  pixels: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: 1 | 3 | 4;
  /** The original file, sent to the server instead of a PNG of `pixels` when the edge is unsure. */
  file?: { bytes: Uint8Array; filename?: string; type?: string };
}
export type PredictInput = AudioInput | WavInput | ImageInput;

export declare class EdgeModel {
  readonly manifest: Manifest;
  readonly labels: string[];
  readonly spec: AudioSpec | ImageSpec;
  readonly kind: 'audio' | 'image';
  /** Temperature still to apply (null: already inside the exported softmax). */
  readonly temperature: number | null;
  readonly dynamicBatch: boolean;
  readonly batchSize: number;
  readonly itemShape: number[];
  /** `manifest.calibration.recommended_threshold`, or null. */
  readonly recommendedThreshold: number | null;
  readonly modelInfo: { name: string; run_id: string };
  /** True for a multi-label export (manifest.objective 'multilabel'). */
  readonly multilabel: boolean;
  /** Multi-label: the thresholds in label order; null for a single-label model. */
  readonly thresholds: Float32Array | null;
  /** Calibrated probabilities for preprocessed inputs (audio windows or normalised CHW images). */
  probabilities(items: Float32Array[]): Promise<Float32Array[]>;
}

export interface LoadOptions {
  ort: OrtModule;
  /** The .onnx bytes (manifest read from them), or a path/URL ONNX Runtime opens itself (then pass `manifest`). */
  model: Uint8Array | ArrayBuffer | string;
  manifest?: Manifest;
  sessionOptions?: object;
}
export declare function loadEdgeModel(options: LoadOptions): Promise<EdgeModel>;

export interface BundleOptions {
  ort: OrtModule;
  /** The export's bundle.zip bytes. */
  bundle: Uint8Array | ArrayBuffer;
  /** File inside the bundle; default model.onnx, then model_int8.onnx. */
  prefer?: string;
  sessionOptions?: object;
  /** Raw-deflate decoder where `DecompressionStream` is missing (e.g. pako.inflateRaw). */
  inflateRaw?: (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;
}
export declare function loadEdgeBundle(options: BundleOptions): Promise<EdgeModel>;

export interface PredictOptions {
  model: EdgeModel;
  /** Ask the server for windows/images whose top-1 confidence is below this (default 0.8). */
  threshold?: number;
  /** Multi-label: ask the server when any class's score is within this of its threshold (default 0.1). */
  nearThreshold?: number;
  /** e.g. http://192.168.1.10:5002 (the `/api/predict` path is added). No URL: edge only. */
  serverUrl?: string;
  /** Per server request (default 5000). */
  timeoutMs?: number;
  /** Hop between audio windows in seconds (default half a window). */
  hopSeconds?: number;
  /** Labels listed per detection (default 1). */
  topK?: number;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** A ServerClient of your own (its circuit breaker settings, shared across models). */
  server?: ServerClient;
  /** Used in the names of audio windows posted to the server. */
  name?: string;
}

export type Source = 'edge' | 'server';

export interface WindowResult {
  start_s: number;
  end_s: number;
  label: string;
  confidence: number;
  source: Source;
  fallback_failed: boolean;
  fallback_error?: string;
  probabilities: Record<string, number>;
  /** Multi-label: every class at or above its threshold, highest score first. */
  labels?: string[];
}

export interface Detection {
  start_s: number;
  end_s: number;
  label: string;
  confidence: number;
  source: Source;
  top_k: { label: string; probability: number }[];
  fallback_failed: boolean;
}

export interface PredictResult {
  label: string;
  confidence: number;
  /** label -> probability (audio: mean over windows). */
  probabilities: Record<string, number>;
  /** 'mixed' for audio whose windows were answered partly by the server. */
  source: Source | 'mixed';
  /** True when the server was needed but could not answer; the edge answer is returned. */
  fallback_failed: boolean;
  fallback_error?: string;
  model: { name?: string; run_id?: string };
  /** Audio only. */
  windows?: WindowResult[];
  /** Audio only: consecutive windows with the same label and source, merged (multi-label: per class, overlapping). */
  detections?: Detection[];
  /** Present for a multi-label model. */
  objective?: 'multilabel';
  /** Multi-label: every class at or above its threshold (audio: on each class's highest window score). */
  labels?: string[];
}

export declare const DEFAULT_THRESHOLD: number;
export declare const DEFAULT_NEAR_THRESHOLD: number;
export declare function labelsAboveThresholds(labels: string[], scores: ArrayLike<number>, thresholds: ArrayLike<number>): string[];
export declare function nearThresholds(scores: ArrayLike<number>, thresholds: Float32Array, margin: number): boolean;
export declare function mergePresentWindows(windows: (WindowResult & { scores: Float32Array })[], labels: string[], thresholds: ArrayLike<number>, k?: number): Detection[];
export declare const EDGE_BATCH_SIZE: number;
export declare const ONNX_MANIFEST_KEY: string;
export declare function predictWithEdge(input: PredictInput, options: PredictOptions): Promise<PredictResult>;

export declare class ServerClient {
  constructor(serverUrl: string, options?: { timeoutMs?: number; maxFailures?: number; cooldownMs?: number; fetch?: typeof fetch; now?: () => number });
  readonly url: string;
  predict(bytes: Uint8Array, filename: string, contentType: string): Promise<{ label: string; confidence: number; probabilities: Record<string, number>; model?: object; windows?: object[]; objective?: 'single_label' | 'multilabel'; labels?: string[] }>;
}

export declare function decodeWav(data: Uint8Array | ArrayBuffer): { samples: Float32Array; sampleRate: number; channels: number };
export declare function encodeWav(samples: Float32Array, sampleRate: number, options?: { bitsPerSample?: 16 | 32 }): Uint8Array;
export declare function encodePng(pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: 1 | 3 | 4): Uint8Array;
export declare function resample(samples: Float32Array, fromRate: number, toRate: number): Float32Array;
export declare function windowStarts(totalSamples: number, window: number, hop: number): number[];
export declare function fitToLength(samples: Float32Array, length: number, padMode?: 'loop' | 'zero'): Float32Array;
export declare function audioWindows(samples: Float32Array, spec: AudioSpec, hopSamples: number): { start: number; end: number; samples: Float32Array }[];
export declare function hopSamples(clipSamples: number, sampleRate: number, hopSeconds?: number | null): number;
export declare function mergeWindows(windows: (WindowResult & { scores: Float32Array })[], labels: string[], k?: number): Detection[];
/** The class trained on ambient recordings (`--background`); never reported as a detection. */
export declare const BACKGROUND_LABEL: 'background';
export declare function reportedDetections(windows: (WindowResult & { scores: Float32Array })[], labels: string[], k?: number): Detection[];
export declare function imageToTensor(image: ImageInput, spec: ImageSpec): Float32Array;
export declare function resizeBilinear(pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number, outWidth: number, outHeight: number): Uint8Array;
export declare function calibrate(probabilities: Float32Array, temperature: number | null | undefined): Float32Array;
export declare function readOnnxMetadata(modelBytes: Uint8Array | ArrayBuffer): Record<string, string>;
export declare function readManifestFromOnnx(modelBytes: Uint8Array | ArrayBuffer): Manifest;
export declare function validateManifest(manifest: unknown): Manifest;
export declare function predictUrl(serverUrl: string): string;

export declare class ManifestError extends Error {}
export declare class OnnxFormatError extends Error {}
export declare class WavFormatError extends Error {}
export declare class BundleError extends Error {}
export declare class FallbackFailedError extends Error {}
