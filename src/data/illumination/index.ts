export { applyIllumination, namesFunctions, type IlluminationOptions } from './apply.ts';
export { computeIllumination, ILLUMINATION_CSV, ILLUMINATION_MARKER, type ComputeIlluminationOptions } from './compute.ts';
export { automaticFilterSize, illuminationFunction, medianFilterDisk, medianRadius, robustRescale, ROBUST_FACTOR } from './estimate.ts';
export { FunctionCache, readIlluminationFunction, type IlluminationFunction } from './functions.ts';
export { ILLUMINATION_MODES, NO_ILLUMINATION, type IlluminationMode, type IlluminationRecord } from './record.ts';
export { divideByFunctions, IlluminationImageStore } from './store.ts';
