/**
 * Training batches from the data layer: a sampler from the `samplers` registry (one plate per
 * batch for BEN, random batches for the baseline) and a {@link BatchPipeline} (augmentation, one
 * or more views), wrapped as the trainer's {@link BatchSource} ({@link SampledBatchSource}), whose
 * state (sampler position + augmentation RNG) is checkpointed for exact resume.
 */
import { groupRows, WELL_KEYS, type Dataset } from './image-dataset.ts';
import type { GroupKey, SiteRecord } from './types.ts';
import { BatchPipeline, SampledBatchSource } from './pipeline.ts';
import { samplers, type Sampler } from './samplers/index.ts';
import type { Augmentation, AugmentationSpec, AugmentPreset } from './augment/augment.ts';
import { hashSeed } from './seed.ts';
import { UserError } from '../util/errors.ts';

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
  /** BatchNorm statistics per group within a batch of several groups (default false). */
  perGroupStatistics?: boolean;
  /**
   * What the sampler draws: `image` (default) or `well` (one entry per well; the views of a well are
   * different sites of it, see PipelineOptions.positives).
   */
  unit?: 'image' | 'well';
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
export function createSampler(data: Dataset, spec: SamplerSpec, seed: number, rows: readonly SiteRecord[] = data.rows): Sampler {
  return samplers.get(spec.type)(rows, {
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
  /** One chain per view, replacing `augment` (see PipelineOptions.viewAugment). */
  viewAugment?: readonly (readonly AugmentationSpec[])[];
  seed: number;
}

/**
 * The trainer's batch source over `data`: sampler + augmentation pipeline. Batches carry labels
 * (class ids of the data set's vocabulary) and the sampler's group name.
 */
export function createBatchSource(data: Dataset, o: BatchSourceOptions): SampledBatchSource {
  const unit = o.sampler.unit ?? 'image';
  // Wells: the sampler draws each well once per epoch (its first row stands for it), so no batch
  // holds two sites of one well as different images.
  const anchors = unit === 'well' ? Int32Array.from([...groupRows(data.rows, WELL_KEYS).values()].map((r) => r[0])) : undefined;
  if (anchors && anchors.length === data.rows.length) {
    throw new UserError(
      'sampler.unit is "well" but every well of the training data has a single site, so both views would come from the same image. ' +
        'Train on the splits that hold the other sites too (RxRx1-WILDS: data.trainSplits: [train, id_test]) or set sampler.unit: image.',
    );
  }
  const sampler = createSampler(data, o.sampler, hashSeed(o.seed, 0x5a3), anchors ? Array.from(anchors, (i) => data.rows[i]) : data.rows);
  const pipeline = new BatchPipeline(data, { seed: hashSeed(o.seed, 0xa09), views: o.views, augment: o.augment, viewAugment: o.viewAugment, positives: unit });
  return new SampledBatchSource(sampler, pipeline, o.sampler.perGroupStatistics ?? false, anchors);
}
