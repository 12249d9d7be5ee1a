import { Registry } from '../../util/registry.ts';
import type { SiteRecord } from '../types.ts';

/** One batch: row indices into the data set and the group(s) they come from. */
export interface Batch {
  /** Row indices, grouped: `groups[g]` owns `indices[g * chunk .. (g+1) * chunk)` when several groups share a batch. */
  indices: Int32Array;
  /** Group key of each chunk, in order (one entry for a one-group batch; `['random']` for random batches). */
  groups: string[];
  /** Images per group chunk, in order (sums to `indices.length`). */
  chunkSizes: number[];
  /** The groups joined with `+`, e.g. `HEPG2-01/2` (for logs and ObjectiveBatch.group). */
  group: string;
}

/** Position of a sampler: a batch plan is a pure function of (seed, epoch), so this is all a checkpoint needs. */
export interface SamplerState {
  epoch: number;
  /** Batches already handed out in `epoch`. */
  position: number;
}

/**
 * Yields batches of row indices; the only place that knows what a "batch" means biologically.
 * Infinite across epochs; deterministic given its seed; resumable from {@link SamplerState}.
 */
export interface Sampler {
  readonly name: string;
  /** Batches in one epoch. */
  readonly batchesPerEpoch: number;
  /** The next batch (a new epoch starts after the last). */
  next(): Batch;
  /** The batches of epoch `epoch`, in order (pure: does not move the sampler). */
  epochPlan(epoch: number): Batch[];
  getState(): SamplerState;
  setState(state: SamplerState): void;
}

/** Shared options of the samplers. */
export interface SamplerOptions {
  /** Seed of the shuffles. */
  seed: number;
  /** Images per batch, or `'group'` for one whole group per batch. */
  batchSize: number | 'group';
  /** Drop incomplete batches (each image is then seen at most once per epoch). Default false. */
  dropLast?: boolean;
  /** Shuffle within groups and the batch order every epoch. Default true. */
  shuffle?: boolean;
}

/** Builds a sampler over `rows` from typed options. */
export type SamplerFactory = (rows: readonly SiteRecord[], options: SamplerOptions & Record<string, unknown>) => Sampler;

/** Registry of samplers by name (`plate`, `random`). */
export const samplers = new Registry<SamplerFactory>('sampler');

/**
 * Base class: subclasses build an epoch's plan from an Rng seeded by (seed, epoch); this class
 * walks through plans and keeps the position.
 */
export abstract class PlannedSampler implements Sampler {
  abstract readonly name: string;
  private epoch = 0;
  private position = 0;
  private plan: Batch[] | undefined;

  protected abstract buildPlan(epoch: number): Batch[];

  epochPlan(epoch: number): Batch[] {
    return this.buildPlan(epoch);
  }

  get batchesPerEpoch(): number {
    return this.currentPlan().length;
  }

  private currentPlan(): Batch[] {
    this.plan ??= this.buildPlan(this.epoch);
    return this.plan;
  }

  next(): Batch {
    let plan = this.currentPlan();
    if (this.position >= plan.length) {
      this.epoch++;
      this.position = 0;
      this.plan = undefined;
      plan = this.currentPlan();
    }
    return plan[this.position++];
  }

  getState(): SamplerState {
    return { epoch: this.epoch, position: this.position };
  }

  setState(state: SamplerState): void {
    if (!Number.isInteger(state?.epoch) || !Number.isInteger(state?.position)) throw new Error(`invalid sampler state ${JSON.stringify(state)}`);
    this.epoch = state.epoch;
    this.position = state.position;
    this.plan = undefined;
  }
}
