/**
 * LISI, the local inverse Simpson's index (Korsunsky et al., Nature Methods 2019), as the R `lisi`
 * package and harmonypy's `compute_lisi` compute it, and its scIB scaling (Luecken et al. 2022):
 * - neighbourhood: each profile's 3 x perplexity nearest other profiles (Euclidean), perplexity 30
 *   (90 neighbours); on fewer than 91 profiles the perplexity drops to (n - 1) / 3;
 * - weights: a Gaussian kernel exp(-beta * distance) over those neighbours, beta found by bisection
 *   (50 tries, tolerance 1e-5) so that the weights' entropy is log(perplexity);
 * - LISI = 1 / sum over categories of (the category's weight)^2: the effective number of
 *   categories around a profile (1 = one category only);
 * - iLISI over batches (higher = mixed), cLISI over labels (lower = labels kept apart); scIB scales
 *   the medians to [0, 1], higher better: iLISI (median - 1) / (batches - 1), cLISI
 *   (labels - median) / (labels - 1).
 * Treatment profiles only (integration.ts).
 */
import { z } from 'zod';
import { defineMetric, type MetricResult } from './metric.ts';
import { median } from '../util/stats.ts';
import { euclideanNeighbours, type EuclideanNeighbours } from './neighbours.ts';
import { batchOverOption, integrationInput } from './integration.ts';

/** Options of the `lisi` metric. */
export const lisiOptions = z
  .object({
    perplexity: z.number().positive().default(30).describe("LISI kernel perplexity (LISI's default 30: 90 neighbours)"),
    batchOver: batchOverOption,
  })
  .strict();

/** The perplexity used on `n` profiles (capped so that 3 x perplexity neighbours exist) and the neighbour count. */
export function lisiNeighbourhood(n: number, perplexity: number): { perplexity: number; k: number } {
  const p = Math.min(perplexity, (n - 1) / 3);
  return { perplexity: p, k: Math.max(1, Math.floor(3 * p)) };
}

/**
 * LISI of every profile for the categories `labels`, from its neighbours `nn` (one row per
 * profile). NaN where the kernel cannot be calibrated (all neighbours at distance 0 on one side).
 */
export function lisiFromNeighbours(nn: EuclideanNeighbours, labels: readonly string[], perplexity: number): Float64Array {
  const n = labels.length;
  const k = nn.k;
  const codes = new Map<string, number>();
  const code = Int32Array.from(labels, (l) => {
    if (!codes.has(l)) codes.set(l, codes.size);
    return codes.get(l)!;
  });
  const logU = Math.log(perplexity);
  const out = new Float64Array(n);
  const p = new Float64Array(k);
  const sums = new Float64Array(codes.size);
  for (let i = 0; i < n; i++) {
    let beta = 1;
    let betaMin = -Infinity;
    let betaMax = Infinity;
    let h = 0;
    const entropy = () => {
      let sum = 0;
      let dp = 0;
      for (let r = 0; r < k; r++) {
        p[r] = Math.exp(-nn.distance[i * k + r] * beta);
        sum += p[r];
        dp += nn.distance[i * k + r] * p[r];
      }
      if (sum === 0) {
        p.fill(0);
        return 0;
      }
      for (let r = 0; r < k; r++) p[r] /= sum;
      return Math.log(sum) + (beta * dp) / sum;
    };
    h = entropy();
    let diff = h - logU;
    for (let t = 0; t < 50 && Math.abs(diff) >= 1e-5; t++) {
      if (diff > 0) {
        betaMin = beta;
        beta = Number.isFinite(betaMax) ? (beta + betaMax) / 2 : beta * 2;
      } else {
        betaMax = beta;
        beta = Number.isFinite(betaMin) ? (beta + betaMin) / 2 : beta / 2;
      }
      h = entropy();
      diff = h - logU;
    }
    if (h === 0) {
      out[i] = NaN;
      continue;
    }
    sums.fill(0);
    for (let r = 0; r < k; r++) sums[code[nn.index[i * k + r]]] += p[r];
    let simpson = 0;
    for (const s of sums) simpson += s * s;
    out[i] = 1 / simpson;
  }
  return out;
}

/** iLISI and cLISI of profiles `x` ([n, d]) with their batches and labels, raw medians and scIB-scaled. */
export function computeLisi(x: ArrayLike<number>, n: number, d: number, batches: readonly string[], labels: readonly string[], perplexity = 30) {
  const hood = lisiNeighbourhood(n, perplexity);
  const nn = euclideanNeighbours(x, n, d, hood.k);
  const finite = (v: Float64Array) => Array.from(v).filter(Number.isFinite);
  const il = finite(lisiFromNeighbours(nn, batches, hood.perplexity));
  const cl = finite(lisiFromNeighbours(nn, labels, hood.perplexity));
  const nb = new Set(batches).size;
  const nl = new Set(labels).size;
  const ilisi = median(il);
  const clisi = median(cl);
  return {
    ilisi,
    clisi,
    ilisiScaled: nb > 1 ? (ilisi - 1) / (nb - 1) : NaN,
    clisiScaled: nl > 1 ? (nl - clisi) / (nl - 1) : NaN,
    batches: nb,
    labels: nl,
    perplexity: hood.perplexity,
    neighbours: hood.k,
  };
}

/** The `lisi` metric: iLISI over batches and cLISI over labels of the treatment profiles. */
export const lisiMetric = defineMetric({
  name: 'lisi',
  description: 'iLISI (batch mixing) and cLISI (labels kept apart), Korsunsky et al. 2019, 90 Euclidean neighbours (perplexity 30); medians and scIB-scaled scores; treatments only',
  options: lisiOptions,
  needs: { columns: ['label', 'plate'] },
  async compute(ctx): Promise<MetricResult> {
    const o = ctx.options;
    const inp = integrationInput(ctx, o.batchOver);
    if (inp.n < 4) return { summary: { ilisi_scaled: NaN, clisi_scaled: NaN, profiles: inp.n }, tables: {} };
    const r = computeLisi(inp.x, inp.n, inp.d, inp.batches, inp.labels, o.perplexity);
    return {
      summary: {
        ilisi_scaled: r.ilisiScaled,
        clisi_scaled: r.clisiScaled,
        ilisi_median: r.ilisi,
        clisi_median: r.clisi,
        batch_column: inp.batchColumn,
        batches: r.batches,
        labels: r.labels,
        neighbours: r.neighbours,
        perplexity: r.perplexity,
        profiles: inp.n,
        ...(inp.sampled ? { sampled_from: inp.treatmentRows } : {}),
      },
      tables: {},
    };
  },
});
