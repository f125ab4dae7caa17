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
export * from './backend/select';
export { conv2dFilterGradient } from './backend/wasm-grad';
export * from './data';
export * from './models';
export * from './quant';
export * from './cost';
export * from './train';
export * from './techniques';
export * from './experiments/statistics';
export * from './experiments/curves';
export * from './studies/regime';
export * from './studies/e2train';
export * from './analysis/layer-quant-stats';
export * from './studies/fractrain';
export * from './studies/sparsity';
export * from './studies/iss';
export * from './experiments/run';
export * from './experiments/language-model';
export * from './experiments/run-cache';
export * from './analysis/perf';
export {
  registerOneDnnKernels,
  unregisterOneDnnKernels,
  oneDnnStatus,
  maxPool2d,
  type OneDnnStatus,
} from './backend/onednn';
export { setFusedOps } from './backend/native-ops';
/** The tfjs-core namespace ecotrain computes with (one shared copy; the backend is chosen by `initBackend`). */
export * as tf from '@tensorflow/tfjs-core';
export * from './studies/force';
export * from './distributed';
export * from './studies/terngrad';
export * from './analysis/sharpness';
export * from './studies/smoothout';
