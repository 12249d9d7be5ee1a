import * as tf from '@tensorflow/tfjs-core';
import { Rng } from '../util/rng.ts';
import type { ObjectiveBatch } from './batch.ts';
import { groupRows, WELL_KEYS, type Dataset } from './image-dataset.ts';
import type { Pixels } from './types.ts';
import { buildAugmentation, type Augmentation, type AugmentationSpec, type AugmentPreset } from './augment/augment.ts';
import { toFloat, type Image32 } from './augment/ops.ts';
import type { Sampler, SamplerState } from './samplers/sampler.ts';
import { hashSeed } from './seed.ts';
import { maxSampleValue } from './preprocess.ts';

/** Options of {@link BatchPipeline}. */
export interface PipelineOptions {
  /** Seed of the augmentation stream. */
  seed: number;
  /** Augmented views per image (1 for supervised, 2+ for SimCLR/BYOL). Default 1. */
  views?: number;
  /**
   * Augmentation: a preset name, a list of specs, or a built {@link Augmentation}. Default
   * `'wilds'` for one view, `'ssl'` for several.
   */
  augment?: AugmentPreset | readonly AugmentationSpec[] | Augmentation;
  /**
   * One chain per view (asymmetric views, e.g. BYOL's blur always on the first view and rarely on
   * the second); replaces `augment`. Its length must equal `views`.
   */
  viewAugment?: readonly (AugmentPreset | readonly AugmentationSpec[] | Augmentation)[];
  /** Class id per data set row; default `dataset.classIds()`. */
  classIds?: Int32Array;
  /**
   * `image` (default): every view is an augmentation of the image itself. `well`: the views of an
   * image are cut from DIFFERENT sites (fields) of its well, in a random order (the image itself
   * when the well has one site; sites repeat when views outnumber them). Positive pairs then share
   * the well's treatment but not its cell layout.
   */
  positives?: 'image' | 'well';
}

/** A batch as plain arrays: `views[v]` holds [B, H, W, C] float32 (row-major). */
export interface AssembledBatch {
  views: Float32Array[];
  /** [B, H, W, C] of every view. */
  shape: [number, number, number, number];
  /** Class id per image [B]. */
  labels: Int32Array;
  /** The data set rows of the batch. */
  indices: Int32Array;
}

/**
 * Turns row ids into training tensors: decode (or read from memory) -> float [0, 1] ->
 * augmentation chain per view -> [B, H, W, C] float32 per view, plus int32 labels. Every random
 * draw comes from one seeded stream whose state {@link getState} returns, so a resumed run
 * produces the same views.
 */
export class BatchPipeline {
  readonly views: number;
  /** The augmentation chain of each view (the same chain for every view unless `viewAugment`). */
  readonly augments: readonly Augmentation[];
  private rng: Rng;
  private readonly classIds: Int32Array;
  private readonly maxValue: number;
  /** `positives: 'well'`: the rows of each row's well (the same array for every site of a well). */
  private readonly wellSites?: number[][];

  constructor(
    readonly dataset: Dataset,
    opts: PipelineOptions,
  ) {
    this.views = opts.views ?? 1;
    if (!(Number.isInteger(this.views) && this.views >= 1)) throw new Error(`views must be a positive integer, got ${opts.views}`);
    const build = (aug: AugmentPreset | readonly AugmentationSpec[] | Augmentation): Augmentation =>
      typeof aug === 'object' && 'apply' in aug ? aug : buildAugmentation(aug as AugmentPreset | AugmentationSpec[]);
    if (opts.viewAugment) {
      if (opts.viewAugment.length !== this.views) throw new Error(`viewAugment has ${opts.viewAugment.length} chains for ${this.views} views; give one per view`);
      this.augments = opts.viewAugment.map(build);
    } else {
      const one = build(opts.augment ?? (this.views > 1 ? 'ssl' : 'wilds'));
      this.augments = Array.from({ length: this.views }, () => one);
    }
    this.rng = new Rng(hashSeed(opts.seed, 0xa06));
    this.classIds = opts.classIds ?? dataset.classIds();
    this.maxValue = maxSampleValue(dataset.dtype);
    if (opts.positives === 'well') {
      this.wellSites = new Array<number[]>(dataset.rows.length);
      for (const rows of groupRows(dataset.rows, WELL_KEYS).values()) for (const r of rows) this.wellSites[r] = rows;
    }
  }

  /** Assembles a batch from images already in memory (synchronous; throws for on-demand stores). */
  assembleSync(indices: ArrayLike<number>): AssembledBatch {
    const rows = this.viewRows(indices);
    return this.build(indices, rows, (i) => this.dataset.images.getSync(i));
  }

  /** Assembles a batch, decoding images that are not in memory. */
  async assemble(indices: ArrayLike<number>): Promise<AssembledBatch> {
    if (this.dataset.images.inMemory) return this.assembleSync(indices);
    const rows = this.viewRows(indices);
    const unique = [...new Set(rows.flat())];
    const px = new Map(await Promise.all(unique.map(async (i) => [i, await this.dataset.images.get(i)] as const)));
    return this.build(indices, rows, (i) => px.get(i)!);
  }

  /** `rows[v][b]`: the data set row view v of image b is cut from (drawn before any augmentation). */
  private viewRows(indices: ArrayLike<number>): number[][] {
    const V = this.views;
    if (!this.wellSites) return Array.from({ length: V }, () => Array.from(indices));
    const rows: number[][] = Array.from({ length: V }, () => []);
    for (const i of Array.from(indices)) {
      const sites = this.wellSites[i];
      // The image itself first, its well's other sites after it in random order.
      const order = [i, ...(this.rng.shuffle(sites.filter((r) => r !== i)) as number[])];
      const first = this.rng.int(order.length);
      for (let v = 0; v < V; v++) rows[v].push(order[(first + v) % order.length]);
    }
    return rows;
  }

  private build(indices: ArrayLike<number>, rows: number[][], pixels: (row: number) => Pixels): AssembledBatch {
    const B = indices.length;
    const { height: H, width: W, channels: C } = this.dataset.images;
    let shape: [number, number, number, number] | undefined;
    const views: Float32Array[] = [];
    const outs: Image32[][] = Array.from({ length: this.views }, () => []);
    // Images in batch order, views in order: the random stream is consumed deterministically.
    for (let b = 0; b < B; b++) {
      for (let v = 0; v < this.views; v++) outs[v].push(this.augments[v].apply(toFloat(pixels(rows[v][b]), H, W, C, this.maxValue), this.rng));
    }
    for (let v = 0; v < this.views; v++) {
      const first = outs[v][0];
      const s: [number, number, number, number] = [B, first.height, first.width, first.channels];
      shape ??= s;
      if (s.some((d, i) => d !== shape![i])) throw new Error(`augmented views differ in shape (${s} vs ${shape}); give random-resized-crop a fixed size`);
      const per = s[1] * s[2] * s[3];
      const buf = new Float32Array(B * per);
      outs[v].forEach((im, b) => {
        if (im.data.length !== per) throw new Error(`augmented images differ in shape within a batch; give random-resized-crop a fixed size`);
        buf.set(im.data, b * per);
      });
      views.push(buf);
    }
    return { views, shape: shape!, labels: Int32Array.from(indices, (i) => this.classIds[i]), indices: Int32Array.from(indices) };
  }

  /** RNG state, for checkpoints. */
  getState(): number[] {
    return this.rng.getState();
  }

  /** Restores {@link getState}. */
  setState(state: number[]): void {
    this.rng = Rng.fromState(state);
  }
}

/**
 * Wraps an assembled batch as tensors: views [B, H, W, C] float32 and labels [B] int32. The
 * caller owns (and disposes) the tensors.
 */
export function toObjectiveBatch(a: AssembledBatch, group: string, bnGroups?: number[]): ObjectiveBatch {
  return {
    views: a.views.map((v) => tf.tensor4d(v, a.shape, 'float32')),
    labels: tf.tensor1d(a.labels, 'int32'),
    group,
    ...(bnGroups && bnGroups.length > 1 ? { bnGroups } : {}),
  };
}

/** Checkpointable state of a {@link SampledBatchSource}. */
export interface SampledBatchSourceState {
  sampler: SamplerState;
  pipeline: number[];
}

/**
 * Sampler + pipeline as the trainer's batch source (`next()` -> ObjectiveBatch with the group
 * name): `getState()` captures the sampler position and the augmentation RNG, so a run resumed
 * from a checkpoint continues with identical batches and views.
 */
export class SampledBatchSource {
  /**
   * `perGroupStatistics`: batches of several groups tell the objective to normalize each group on
   * its own. `rows`: the data set row of each sampler index, when the sampler draws from a subset
   * (one site per well); default the identity.
   */
  constructor(
    readonly sampler: Sampler,
    readonly pipeline: BatchPipeline,
    readonly perGroupStatistics = false,
    private readonly rows?: Int32Array,
  ) {}

  /** The next batch as tensors (synchronous for in-memory data, else a promise). */
  next(): ObjectiveBatch | Promise<ObjectiveBatch> {
    const s = this.sampler.next();
    const b = this.rows ? { ...s, indices: Int32Array.from(s.indices, (i) => this.rows![i]) } : s;
    const groups = this.perGroupStatistics ? b.chunkSizes : undefined;
    if (this.pipeline.dataset.images.inMemory) return toObjectiveBatch(this.pipeline.assembleSync(b.indices), b.group, groups);
    return this.pipeline.assemble(b.indices).then((a) => toObjectiveBatch(a, b.group, groups));
  }

  getState(): SampledBatchSourceState {
    return { sampler: this.sampler.getState(), pipeline: this.pipeline.getState() };
  }

  setState(state: unknown): void {
    const s = state as SampledBatchSourceState;
    this.sampler.setState(s.sampler);
    this.pipeline.setState(s.pipeline);
  }
}
