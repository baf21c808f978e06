/**
 * NightScan Edge app-side client: run an exported ONNX model with ONNX Runtime (node, web or react-native)
 * and fall back to the NightScan server when the device is unsure.
 *
 *   import * as ort from 'onnxruntime-react-native';
 *   import { loadEdgeModel, predictWithEdge } from '@nightscan/edge-client';
 *   const model = await loadEdgeModel({ ort, model: onnxBytes });
 *   const result = await predictWithEdge({ samples, sampleRate }, { model, threshold: 0.8, serverUrl });
 */

export { audioWindows, fitToLength, resample, windowStarts } from './audio.js';
export { BundleError, loadEdgeBundle } from './bundle.js';
export { imageToTensor, resizeBilinear } from './image.js';
export { ManifestError, ONNX_MANIFEST_KEY, readManifestFromOnnx, validateManifest } from './manifest.js';
export { EDGE_BATCH_SIZE, EdgeModel, calibrate, loadEdgeModel } from './model.js';
export { OnnxFormatError, readOnnxMetadata } from './onnx-metadata.js';
export { encodePng } from './png.js';
export {
  BACKGROUND_LABEL,
  DEFAULT_NEAR_THRESHOLD,
  DEFAULT_THRESHOLD,
  hopSamples,
  labelsAboveThresholds,
  mergePresentWindows,
  mergeWindows,
  nearThresholds,
  predictWithEdge,
  reportedDetections,
} from './predict.js';
export { FallbackFailedError, ServerClient, predictUrl } from './server.js';
export { WavFormatError, decodeWav, encodeWav } from './wav.js';
