/**
 * Batches for training and evaluation from an in-memory {@link Dataset}: a grouped batch sampler
 * (every batch from one group: a plate for BEN, an experiment for the WILDS default, or the whole
 * set for random batches), per-image per-channel standardisation (as in the BEN paper and WILDS)
 * and dihedral augmentation (rot90 x flip). State (RNG + position) is checkpointable.
 *
 * This is the training loop's own minimal source; the data layer's PlateBatchSampler and
 * augmentation pipeline plug into the same {@link BatchSource} interface.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { Dataset } from '../data/dataset.ts';
import type { GroupKey, Pixels } from '../data/types.ts';
import { Rng } from '../util/rng.ts';
import { UserError } from '../util/errors.ts';
import type { ObjectiveBatch } from '../objectives/objective.ts';
import type { BatchSource } from './trainer.ts';
import type { EvalPlate } from '../objectives/supervised.ts';

/** How training batches are formed. */
export type Batching = 'random' | 'experiment' | 'plate';

/** Group keys of each batching. */
export const BATCHING_KEYS: Record<Batching, GroupKey[]> = { random: [], experiment: ['experiment'], plate: ['experiment', 'plate'] };

/**
 * Yields batches of row indices, each from one group; every epoch shuffles rows within groups,
 * cuts them into batches of `batchSize` (a group's last partial batch is dropped when smaller than
 * half a batch, else kept), and shuffles the batch order. Deterministic given the seed.
 */
export class GroupedBatchSampler {
  private readonly groups: { key: string; rows: number[] }[];
  private rng: Rng;
  private epochStart: number[];
  private plan: { key: string; rows: number[] }[] = [];
  private pos = 0;
  epoch = 0;

  constructor(
    rows: readonly { [k in GroupKey]: unknown }[],
    keys: GroupKey[],
    private readonly batchSize: number,
    seed: number,
  ) {
    if (!(batchSize >= 2)) throw new UserError(`batch size must be >= 2 (BatchNorm needs a batch), got ${batchSize}`);
    const m = new Map<string, number[]>();
    rows.forEach((r, i) => {
      const k = keys.length ? keys.map((kk) => String(r[kk])).join('/') : 'all';
      const g = m.get(k);
      if (g) g.push(i);
      else m.set(k, [i]);
    });
    this.groups = [...m].map(([key, rs]) => ({ key, rows: rs }));
    this.rng = new Rng(seed);
    this.epochStart = this.rng.getState();
    this.makePlan();
  }

  private makePlan(): void {
    this.epochStart = this.rng.getState();
    const plan: { key: string; rows: number[] }[] = [];
    for (const g of this.groups) {
      const rs = this.rng.shuffle([...g.rows]) as number[];
      for (let s = 0; s < rs.length; s += this.batchSize) {
        const b = rs.slice(s, s + this.batchSize);
        if (b.length >= Math.max(2, this.batchSize / 2)) plan.push({ key: g.key, rows: b });
      }
    }
    if (plan.length === 0) throw new UserError(`no group has enough images for a batch of ${this.batchSize}; lower the batch size`);
    this.plan = this.rng.shuffle(plan) as typeof plan;
    this.pos = 0;
  }

  /** Number of batches in one epoch. */
  get batchesPerEpoch(): number {
    return this.plan.length;
  }

  /** The next batch's row indices and group key. */
  next(): { rows: number[]; group: string } {
    if (this.pos >= this.plan.length) {
      this.epoch++;
      this.makePlan();
    }
    const b = this.plan[this.pos++];
    return { rows: b.rows, group: b.key };
  }

  getState(): { epochStart: number[]; pos: number; epoch: number } {
    return { epochStart: this.epochStart, pos: this.pos, epoch: this.epoch };
  }

  setState(s: { epochStart: number[]; pos: number; epoch: number }): void {
    this.rng = Rng.fromState(s.epochStart);
    this.makePlan();
    this.pos = s.pos;
    this.epoch = s.epoch;
  }
}

/**
 * Writes image `px` (HWC, uint8/uint16) into `out` at `offset`, standardised per channel
 * ((x - mean) / std over the image), after rot90 `k` times and an optional horizontal flip.
 */
export function standardiseInto(px: Pixels, h: number, w: number, c: number, out: Float32Array, offset: number, k = 0, flip = false): void {
  const mean = new Float64Array(c);
  const sq = new Float64Array(c);
  for (let i = 0; i < px.length; i++) {
    const v = px[i];
    mean[i % c] += v;
    sq[i % c] += v * v;
  }
  const n = h * w;
  const inv = new Float64Array(c);
  for (let j = 0; j < c; j++) {
    mean[j] /= n;
    inv[j] = 1 / Math.sqrt(Math.max(sq[j] / n - mean[j] * mean[j], 0) + 1e-6);
  }
  if (k % 4 !== 0 && h !== w) throw new Error('rot90 needs square images');
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      // source pixel for destination (y, x) under rotation k and flip.
      const xf = flip ? w - 1 - x : x;
      let sy = y;
      let sx = xf;
      switch (k % 4) {
        case 1: sy = xf; sx = w - 1 - y; break;
        case 2: sy = h - 1 - y; sx = w - 1 - xf; break;
        case 3: sy = h - 1 - xf; sx = y; break;
      }
      const src = (sy * w + sx) * c;
      const dst = offset + (y * w + x) * c;
      for (let j = 0; j < c; j++) out[dst + j] = (px[src + j] - mean[j]) * inv[j];
    }
  }
}

/** Options of {@link DatasetBatchSource}. */
export interface DatasetBatchSourceOptions {
  batching: Batching;
  batchSize: number;
  seed: number;
  /** Random rot90 + flip per image. Default true. */
  augment?: boolean;
}

/**
 * A {@link BatchSource} over an in-memory data set: one view per image (supervised), labels from
 * `classIds` (row-aligned with the data set).
 */
export class DatasetBatchSource implements BatchSource {
  readonly sampler: GroupedBatchSampler;
  private rng: Rng;
  constructor(
    private readonly ds: Dataset,
    private readonly classIds: Int32Array,
    private readonly o: DatasetBatchSourceOptions,
  ) {
    if (!ds.images.inMemory) throw new UserError(`training needs the images in memory; load the data set first (${ds.root})`);
    this.sampler = new GroupedBatchSampler(ds.rows, BATCHING_KEYS[o.batching], o.batchSize, o.seed);
    this.rng = new Rng(o.seed ^ 0x9e3779b9);
  }

  next(): ObjectiveBatch {
    const { rows, group } = this.sampler.next();
    const { height: h, width: w, channels: c } = this.ds.images;
    const out = new Float32Array(rows.length * h * w * c);
    rows.forEach((r, i) => {
      const k = this.o.augment === false ? 0 : this.rng.int(4);
      const flip = this.o.augment === false ? false : this.rng.next() < 0.5;
      standardiseInto(this.ds.images.getSync(r), h, w, c, out, i * h * w * c, k, flip);
    });
    return {
      views: [tf.tensor4d(out, [rows.length, h, w, c])],
      labels: tf.tensor1d(Int32Array.from(rows, (r) => this.classIds[r]), 'int32'),
      group,
    };
  }

  getState(): unknown {
    return { sampler: this.sampler.getState(), rng: this.rng.getState() };
  }

  setState(s: unknown): void {
    const st = s as { sampler: ReturnType<GroupedBatchSampler['getState']>; rng: number[] };
    this.sampler.setState(st.sampler);
    this.rng = Rng.fromState(st.rng);
  }
}

/**
 * Evaluation plates of an in-memory data set: one {@link EvalPlate} per (experiment, plate), its
 * images standardised (no augmentation) in batches of `batchSize` (0: the whole plate as one
 * batch), controls = its negative-control wells.
 */
export function evalPlates(ds: Dataset, classIds: Int32Array, batchSize = 0): EvalPlate[] {
  const byPlate = new Map<string, number[]>();
  ds.rows.forEach((r, i) => {
    const k = `${r.experiment}/${r.plate}`;
    const g = byPlate.get(k);
    if (g) g.push(i);
    else byPlate.set(k, [i]);
  });
  const { height: h, width: w, channels: c } = ds.images;
  const tensorOf = (rows: number[]) => {
    const out = new Float32Array(rows.length * h * w * c);
    rows.forEach((r, i) => standardiseInto(ds.images.getSync(r), h, w, c, out, i * h * w * c));
    return tf.tensor4d(out, [rows.length, h, w, c]);
  };
  const chunks = (rows: number[]) => {
    const bs = batchSize > 0 ? batchSize : rows.length;
    const out: number[][] = [];
    for (let s = 0; s < rows.length; s += bs) out.push(rows.slice(s, s + bs));
    return out;
  };
  return [...byPlate].map(([key, rows]) => {
    const controls = rows.filter((r) => ds.rows[r].wellType === 'negative_control');
    return {
      key,
      batches: function* () {
        for (const b of chunks(rows)) yield { images: tensorOf(b), labels: Int32Array.from(b, (r) => classIds[r]) };
      },
      controls: controls.length
        ? function* () {
            for (const b of chunks(controls)) yield tensorOf(b);
          }
        : undefined,
    };
  });
}
