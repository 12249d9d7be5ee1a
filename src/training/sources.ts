/**
 * Training batches from the data layer: a sampler from the `samplers` registry (one plate per
 * batch for BEN, random batches for the baseline) and a {@link BatchPipeline} (augmentation, one
 * or more views), wrapped as the trainer's {@link BatchSource} ({@link SampledBatchSource}), whose
 * state (sampler position + augmentation RNG) is checkpointed for exact resume.
 */
import type { Dataset } from '../data/dataset.ts';
import type { GroupKey } from '../data/types.ts';
import { BatchPipeline, SampledBatchSource } from '../data/pipeline.ts';
import { samplers, type Sampler } from '../data/samplers/index.ts';
import type { Augmentation, AugmentationSpec, AugmentPreset } from '../data/augment/augment.ts';
import { hashSeed } from '../data/seed.ts';

/** The usual shorthands for how training batches are formed (`ben train --batching`). */
export type Batching = 'random' | 'experiment' | 'plate';

/** A sampler as a recipe or a flag names it (typed; the `sampler` section of a recipe). */
export interface SamplerSpec {
  /** Registry name: `plate` (every batch from one group: BEN) or `random`. */
  type: string;
  /** Group columns of a `plate` sampler (default experiment + plate). */
  groupBy?: GroupKey[];
  /** Images per batch, or `whole-group` for one whole group per batch. */
  batchSize: number | 'whole-group';
  /** Groups per batch of a `plate` sampler (default 1). */
  groupsPerBatch?: number;
  /** Drop incomplete batches (default true: BatchNorm on a handful of images is noise). */
  dropLast?: boolean;
  shuffle?: boolean;
}

/**
 * The sampler spec of a {@link Batching} shorthand. Incomplete batches are kept, so a plate smaller
 * than the batch size still forms one (whole-plate) batch.
 */
export function batchingSampler(batching: Batching, batchSize: number): SamplerSpec {
  if (batching === 'random') return { type: 'random', batchSize, dropLast: false };
  return { type: 'plate', groupBy: batching === 'experiment' ? ['experiment'] : ['experiment', 'plate'], batchSize, dropLast: false };
}

/** Builds the sampler of `spec` over the rows of `data` from the `samplers` registry. */
export function createSampler(data: Dataset, spec: SamplerSpec, seed: number): Sampler {
  return samplers.get(spec.type)(data.rows, {
    seed,
    batchSize: spec.batchSize === 'whole-group' ? 'group' : spec.batchSize,
    dropLast: spec.dropLast ?? true,
    shuffle: spec.shuffle ?? true,
    groupKeys: spec.groupBy,
    groupsPerBatch: spec.groupsPerBatch,
  });
}

/** Options of {@link createBatchSource}. */
export interface BatchSourceOptions {
  sampler: SamplerSpec;
  /** Views per image (1 supervised, 2+ self-supervised). */
  views: number;
  /** Augmentation chain (a preset, specs, or a built chain); default `wilds` for 1 view, `ssl` for more. */
  augment?: AugmentPreset | readonly AugmentationSpec[] | Augmentation;
  seed: number;
}

/**
 * The trainer's batch source over `data`: sampler + augmentation pipeline. Batches carry labels
 * (class ids of the data set's vocabulary) and the sampler's group name.
 */
export function createBatchSource(data: Dataset, o: BatchSourceOptions): SampledBatchSource {
  const sampler = createSampler(data, o.sampler, hashSeed(o.seed, 0x5a3));
  const pipeline = new BatchPipeline(data, { seed: hashSeed(o.seed, 0xa09), views: o.views, augment: o.augment });
  return new SampledBatchSource(sampler, pipeline);
}
