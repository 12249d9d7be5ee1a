import { UserError } from '../../util/errors.ts';
import { Rng } from '../../util/rng.ts';
import { hashSeed } from '../seed.ts';
import type { SiteRecord } from '../types.ts';
import { PlannedSampler, type Batch, type SamplerOptions } from './sampler.ts';

/**
 * The usual baseline: each epoch shuffles all rows and cuts them into batches, so a batch mixes
 * plates and experiments. `batchSize: 'group'` means the whole data set as one batch.
 */
export class RandomBatchSampler extends PlannedSampler {
  readonly name = 'random';
  private readonly n: number;

  constructor(
    rows: readonly SiteRecord[],
    private readonly o: SamplerOptions,
  ) {
    super();
    this.n = rows.length;
    if (this.n === 0) throw new UserError('RandomBatchSampler: the data set has no rows.');
    if (o.batchSize !== 'group' && !(Number.isInteger(o.batchSize) && o.batchSize >= 1)) throw new UserError(`batch size must be a positive integer or "group", got ${o.batchSize}.`);
  }

  protected buildPlan(epoch: number): Batch[] {
    const rng = new Rng(hashSeed(this.o.seed, 0x7a4d0, epoch));
    const idx = Array.from({ length: this.n }, (_, i) => i);
    if (this.o.shuffle ?? true) rng.shuffle(idx);
    const size = this.o.batchSize === 'group' ? this.n : this.o.batchSize;
    const out: Batch[] = [];
    for (let s = 0; s < this.n; s += size) {
      const part = idx.slice(s, s + size);
      if (part.length < size && this.o.dropLast) continue;
      out.push({ indices: Int32Array.from(part), groups: ['random'], chunkSizes: [part.length], group: 'random' });
    }
    if (out.length === 0) throw new UserError(`No complete batch of ${size} images in ${this.n} rows; lower the batch size or turn off dropLast.`);
    return out;
  }
}
