import type { EdgeModel, OrtModule, WavInput } from './index.js';

/** Open `model.onnx` (manifest embedded, else manifest.json beside it) or a `bundle.zip` from disk. */
export declare function loadEdgeModelFromFile(ort: OrtModule, path: string, options?: { sessionOptions?: object }): Promise<EdgeModel>;
/** Read a WAV file as `{wav}` input for predictWithEdge. */
export declare function readWavFile(path: string): Promise<WavInput>;
