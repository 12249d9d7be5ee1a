import { UserError } from '../../util/errors.ts';
import { Rng } from '../../util/rng.ts';
import { hashSeed } from '../seed.ts';
import { groupRows } from '../image-dataset.ts';
import type { GroupKey, SiteRecord } from '../types.ts';
import { PlannedSampler, type Batch, type SamplerOptions } from './sampler.ts';

/** Options of {@link PlateBatchSampler}. */
export interface PlateBatchSamplerOptions extends SamplerOptions {
  /** Row fields that define a group. Default `['experiment', 'plate']` (BEN); `['experiment']` is the WILDS-style grouping. */
  groupKeys?: GroupKey[];
  /**
   * Groups per batch (default 1). With k > 1 a batch is k chunks of `batchSize / k` images, each
   * chunk from one distinct group, contiguous in the batch (for per-chunk BatchNorm).
   */
  groupsPerBatch?: number;
}

/**
 * Batch Effects Normalization's sampler (Lin & Lu, MLCB 2022): every batch is drawn from one
 * group (a plate by default), so BatchNorm's batch statistics are that plate's and remove its
 * batch effect. Each epoch shuffles rows within groups, cuts each group into chunks, shuffles the
 * chunks, and packs `groupsPerBatch` chunks of distinct groups per batch. Without `dropLast`,
 * every image is in exactly one batch per epoch (a group's last chunk may be smaller).
 */
export class PlateBatchSampler extends PlannedSampler {
  readonly name = 'plate';
  private readonly groupList: { key: string; rows: number[] }[];
  readonly groupKeys: GroupKey[];
  private readonly groupsPerBatch: number;

  constructor(
    rows: readonly SiteRecord[],
    private readonly o: PlateBatchSamplerOptions,
  ) {
    super();
    this.groupKeys = o.groupKeys ?? ['experiment', 'plate'];
    this.groupsPerBatch = o.groupsPerBatch ?? 1;
    if (rows.length === 0) throw new UserError('PlateBatchSampler: the data set has no rows.');
    if (!(Number.isInteger(this.groupsPerBatch) && this.groupsPerBatch >= 1)) throw new UserError(`groupsPerBatch must be a positive integer, got ${o.groupsPerBatch}.`);
    if (o.batchSize !== 'group') {
      if (!(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new UserError(`batch size must be a positive integer or "group", got ${o.batchSize}.`);
      if (o.batchSize % this.groupsPerBatch !== 0) throw new UserError(`batch size ${o.batchSize} is not divisible by groupsPerBatch ${this.groupsPerBatch}.`);
    }
    this.groupList = [...groupRows(rows, this.groupKeys)].map(([key, r]) => ({ key, rows: r })).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    if (this.groupsPerBatch > this.groupList.length) {
      throw new UserError(`groupsPerBatch ${this.groupsPerBatch} exceeds the ${this.groupList.length} groups over [${this.groupKeys.join(', ')}].`);
    }
  }

  /** The groups (key and row indices), sorted by key. */
  get groups(): readonly { key: string; rows: readonly number[] }[] {
    return this.groupList;
  }

  protected buildPlan(epoch: number): Batch[] {
    const rng = new Rng(hashSeed(this.o.seed, 0x91a7e, epoch));
    const shuffle = this.o.shuffle ?? true;
    const k = this.groupsPerBatch;
    const chunks: { key: string; rows: number[]; full: boolean }[] = [];
    for (const g of this.groupList) {
      const rs = shuffle ? (rng.shuffle([...g.rows]) as number[]) : [...g.rows];
      const size = this.o.batchSize === 'group' ? rs.length : this.o.batchSize / k;
      for (let s = 0; s < rs.length; s += size) {
        const part = rs.slice(s, s + size);
        const full = part.length === size || this.o.batchSize === 'group';
        if (!full && this.o.dropLast) continue;
        chunks.push({ key: g.key, rows: part, full });
      }
    }
    if (shuffle) rng.shuffle(chunks);
    const batches: Batch[] = [];
    if (k === 1) {
      for (const c of chunks) batches.push(makeBatch([c]));
    } else {
      // Greedy packing of full chunks from distinct groups; leftovers (partial chunks, or chunks
      // that found no distinct partners) form their own smaller batches unless dropLast.
      const pending = chunks.filter((c) => c.full);
      const leftovers = chunks.filter((c) => !c.full);
      while (pending.length > 0) {
        const pick = [pending.shift()!];
        for (let i = 0; i < pending.length && pick.length < k; ) {
          if (pick.every((p) => p.key !== pending[i].key)) pick.push(pending.splice(i, 1)[0]);
          else i++;
        }
        if (pick.length === k) batches.push(makeBatch(pick));
        else leftovers.push(...pick);
      }
      if (!this.o.dropLast) for (const c of leftovers) batches.push(makeBatch([c]));
    }
    if (batches.length === 0) throw new UserError(`No complete batch of ${this.o.batchSize} images fits in any group over [${this.groupKeys.join(', ')}]; lower the batch size or turn off dropLast.`);
    return batches;
  }
}

function makeBatch(chunks: { key: string; rows: number[] }[]): Batch {
  return {
    indices: Int32Array.from(chunks.flatMap((c) => c.rows)),
    groups: chunks.map((c) => c.key),
    chunkSizes: chunks.map((c) => c.rows.length),
    group: chunks.map((c) => c.key).join('+'),
  };
}
