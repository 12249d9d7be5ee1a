import { PlateBatchSampler, type PlateBatchSamplerOptions } from './plate.ts';
import { RandomBatchSampler } from './random.ts';
import { samplers } from './sampler.ts';

samplers.register('plate', (rows, o) => new PlateBatchSampler(rows, o as PlateBatchSamplerOptions));
samplers.register('random', (rows, o) => new RandomBatchSampler(rows, o));

export { samplers, PlateBatchSampler, RandomBatchSampler };
export type { PlateBatchSamplerOptions };
export type { Batch, Sampler, SamplerFactory, SamplerOptions, SamplerState } from './sampler.ts';
