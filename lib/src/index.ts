/**
 * ecotrain: techniques for cheap, energy-efficient deep-network training (E²-Train, FracTrain,
 * structured sparsity, TernGrad, SmoothOut, ...) on a quantization simulator and energy model.
 *
 * This entry point is the public API; notebooks import it as `ecotrain`.
 * @packageDocumentation
 */
export * from './errors';
export * from './config';
export * from './random';
export * from './backend';
export { conv2dFilterGradient } from './backend-wasm-grad';
export * from './data';
export * from './models';
export * from './quant';
export * from './cost';
export * from './train';
export * from './techniques';
export * from './statistics';
export * from './curves';
export * from './regimes';
export * from './regimes-fractrain';
export * from './regimes-ssl';
export * from './regimes-iss';
export * from './experiment';
export * from './experiment-lm';
export * from './run-cache';
export * from './perf';
export { registerOneDnnKernels, unregisterOneDnnKernels, oneDnnStatus, maxPool2d, type OneDnnStatus } from './backend-onednn';
export { setFusedOps } from './backend-native-ops';
/** The tfjs-core namespace ecotrain computes with (one shared copy; the backend is chosen by `initBackend`). */
export * as tf from '@tensorflow/tfjs-core';
export * from './regimes-force';
export * from './distributed';
export * from './regimes-terngrad';
export * from './sharpness';
export * from './regimes-smoothout';
