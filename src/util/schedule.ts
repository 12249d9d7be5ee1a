/**
 * Learning-rate (and momentum) schedules as pure functions of the step, so a resumed run computes
 * exactly the value the uninterrupted run would have (lightly's style: the same cosine drives the
 * learning rate and BYOL's target momentum).
 */

/**
 * Cosine interpolation from `start` (at step 0) to `end` (at step `total`), clamped beyond:
 * `end + (start - end) * (1 + cos(pi * step / total)) / 2`.
 */
export function cosineSchedule(step: number, total: number, start: number, end: number): number {
  if (total <= 0) return end;
  const t = Math.min(Math.max(step / total, 0), 1);
  return end + ((start - end) * (1 + Math.cos(Math.PI * t))) / 2;
}

/** Parameters of {@link warmupCosine}. */
export interface WarmupCosineOptions {
  /** Peak learning rate reached at the end of warmup. */
  baseLr: number;
  /** Linear warmup steps (0 for none). */
  warmupSteps: number;
  /** Total training steps. */
  totalSteps: number;
  /** Learning rate at the last step. Default 0. */
  finalLr?: number;
  /** Learning rate at step 0 of the warmup, as a fraction of baseLr. Default 0 (first step gets baseLr / warmupSteps). */
  warmupStartFraction?: number;
}

/**
 * Linear warmup then cosine decay (Goyal et al. 2017; SimCLR, BYOL): step s in [0, warmup) gets
 * `baseLr * (f + (1 - f) * (s + 1) / warmup)`, then cosine from `baseLr` to `finalLr` over the
 * remaining steps.
 */
export function warmupCosine(step: number, o: WarmupCosineOptions): number {
  if (!(o.baseLr >= 0)) throw new Error(`warmupCosine: baseLr must be >= 0, got ${o.baseLr}`);
  if (!(o.warmupSteps >= 0) || !(o.totalSteps > 0)) throw new Error(`warmupCosine: need warmupSteps >= 0 and totalSteps > 0, got ${o.warmupSteps}, ${o.totalSteps}`);
  const f = o.warmupStartFraction ?? 0;
  if (step < o.warmupSteps) return o.baseLr * (f + ((1 - f) * (step + 1)) / o.warmupSteps);
  return cosineSchedule(step - o.warmupSteps, Math.max(o.totalSteps - o.warmupSteps - 1, 1), o.baseLr, o.finalLr ?? 0);
}
