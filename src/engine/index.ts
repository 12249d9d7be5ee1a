/** The engine's public API: backend selection, wasm training kernels, fused training primitives. */
export { initBackend, BACKEND_ORDER, type BackendInfo, type BackendName, type InitBackendOptions } from './backend.ts';
export { registerTrainingKernels, trainingKernels } from './kernels/index.ts';
export { batchNormTrain, batchNormTrainSupported, type BatchNormTrainResult } from './ops/batch-norm-train.ts';
export { adamUpdate, adamUpdateSupported } from './ops/adam-update.ts';
export type { AdamUpdateAttrs } from './kernels/adam-update.ts';
export { registerGradients } from './gradients.ts';
export { engineEnvironment, engineFlags, setEngineFlags, withEngineFlags, type EngineEnvironment, type EngineFlags } from './flags.ts';
export { searchTopKInnerProduct, knnKernelFor, type KnnKernel, type TopKOptions } from './knn/index.ts';
export { searchNearestInt16, type Int16SearchOptions, type Int16SearchStats } from './knn/int16.ts';
export { buildDotI16Module } from './knn/wasm-dot-i16.ts';
