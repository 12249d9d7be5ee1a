/**
 * The data layer's public API: data set model and readers, the synthetic generator, samplers,
 * augmentations and the batch pipeline.
 */
export * from './types.ts';
export { Dataset, assembleDataset, classIds, groupKey, groupRows, labelVocabulary, listPlates, type DatasetInit, type DatasetSummary, type ReadOptions } from './image-dataset.ts';
export { FileImageStore, MemoryImageStore, decodeSite, type ImageShape, type ImageStore } from './image-store.ts';
export { decodeImage, encodePng, encodeTiff, type DecodedImage, type DecodeOptions } from './decode.ts';
export type { PlaneRef } from './tiff-planes.ts';
export { readDataset, readers, type DatasetReader, type ReaderOption } from './readers/index.ts';
export { applyIllumination, computeIllumination, readIlluminationFunction, ILLUMINATION_MODES, type IlluminationMode, type IlluminationOptions, type IlluminationRecord } from './illumination/index.ts';
export { readLocations, type CellLocations } from './cells/locations.ts';
export { encodeNpy, parseNpy, type NpyArray } from './npy.ts';
export { wildsSplit, WILDS_CHANNELS } from './readers/rxrx1-wilds.ts';
export { SYNTH_PRESETS, FEATURES, resolveSynthConfig, synthImageCount, type SynthConfig, type SynthPreset } from './synth/config.ts';
export { drawWorld, generateSynthetic, renderSite, type SynthWorld, type SynthResult } from './synth/generate.ts';
export { PlateBatchSampler, RandomBatchSampler, samplers, type Batch, type PlateBatchSamplerOptions, type Sampler, type SamplerOptions, type SamplerState } from './samplers/index.ts';
export { AUGMENT_PRESETS, augmentations, buildAugmentation, compose, type Augmentation, type AugmentationSpec, type AugmentPreset } from './augment/augment.ts';
export type { Image32 } from './augment/ops.ts';
export { maxSampleValue, modelInputBatch, modelInputInto, standardizeBatch, standardizeInto, type ModelInputOptions } from './preprocess.ts';
export { BatchPipeline, SampledBatchSource, toObjectiveBatch, type AssembledBatch, type PipelineOptions, type SampledBatchSourceState } from './pipeline.ts';
