/**
 * Silhouettes as the batch-correction benchmarks use them (scIB, Luecken et al. 2022; Arevalo et
 * al. 2024), on the treatment profiles (integration.ts):
 * - on label (biology kept): scikit-learn's `silhouette_score` over the labels, scaled to [0, 1]
 *   as (s + 1) / 2;
 * - on batch (batch removed): within each label, the silhouette of every profile over the batches,
 *   1 - |s|, averaged per label, then over the labels; labels in one batch only, or with one
 *   profile per batch, are skipped (scIB's `silhouette_batch`). 1: batches fully mixed.
 * s(i) = (b - a) / max(a, b), a the mean distance to the other profiles of i's group, b the
 * smallest mean distance to another group; 0 for a profile alone in its group (scikit-learn).
 */
import { z } from 'zod';
import { defineMetric } from './metric.ts';
import { batchOverOption, integrationInput } from './integration.ts';

/** Options of the `silhouette` metric. */
export const silhouetteOptions = z
  .object({
    silhouetteDistance: z.enum(['euclidean', 'cosine']).default('euclidean').describe("Silhouette distance: euclidean (scIB's default) or cosine (1 - cosine similarity)"),
    batchOver: batchOverOption,
  })
  .strict();

/** Distance function between rows `i` and `j` of `x` ([n, d]). */
function distanceFn(x: ArrayLike<number>, d: number, kind: 'euclidean' | 'cosine'): (i: number, j: number) => number {
  if (kind === 'euclidean') {
    return (i, j) => {
      let s = 0;
      for (let f = 0; f < d; f++) {
        const v = x[i * d + f] - x[j * d + f];
        s += v * v;
      }
      return Math.sqrt(s);
    };
  }
  const n = x.length / d;
  const norm = Float64Array.from({ length: n }, (_, i) => {
    let s = 0;
    for (let f = 0; f < d; f++) s += x[i * d + f] ** 2;
    return Math.sqrt(s);
  });
  return (i, j) => {
    let s = 0;
    for (let f = 0; f < d; f++) s += x[i * d + f] * x[j * d + f];
    return norm[i] > 0 && norm[j] > 0 ? 1 - s / (norm[i] * norm[j]) : 1;
  };
}

/**
 * scikit-learn's `silhouette_samples`: one value per row of `x` ([n, d]) for the groups `labels`.
 * `rows` restricts the computation to a subset (distances and groups among those rows only).
 */
export function silhouetteSamples(x: ArrayLike<number>, d: number, labels: readonly string[], distance: 'euclidean' | 'cosine' = 'euclidean', rows?: readonly number[]): Float64Array {
  const idx = rows ?? Array.from({ length: labels.length }, (_, i) => i);
  const m = idx.length;
  const codes = new Map<string, number>();
  const code = Int32Array.from(idx, (i) => {
    const l = labels[i];
    if (!codes.has(l)) codes.set(l, codes.size);
    return codes.get(l)!;
  });
  const L = codes.size;
  const size = new Int32Array(L);
  for (const c of code) size[c]++;
  const dist = distanceFn(x, d, distance);
  const out = new Float64Array(m);
  const sums = new Float64Array(L);
  for (let a = 0; a < m; a++) {
    sums.fill(0);
    for (let b = 0; b < m; b++) if (b !== a) sums[code[b]] += dist(idx[a], idx[b]);
    const own = code[a];
    if (size[own] <= 1) {
      out[a] = 0;
      continue;
    }
    const ai = sums[own] / (size[own] - 1);
    let bi = Infinity;
    for (let c = 0; c < L; c++) if (c !== own && size[c] > 0) bi = Math.min(bi, sums[c] / size[c]);
    const den = Math.max(ai, bi);
    out[a] = den > 0 ? (bi - ai) / den : 0;
  }
  return out;
}

/** Silhouette on label, scaled (s + 1) / 2 (scIB `silhouette`); NaN with fewer than 2 labels. */
export function silhouetteLabel(x: ArrayLike<number>, d: number, labels: readonly string[], distance: 'euclidean' | 'cosine' = 'euclidean'): { score: number; raw: number } {
  const L = new Set(labels).size;
  if (L < 2 || L > labels.length - 1) return { score: NaN, raw: NaN };
  const s = silhouetteSamples(x, d, labels, distance);
  const raw = s.reduce((a, b) => a + b, 0) / s.length;
  return { score: (raw + 1) / 2, raw };
}

/** Silhouette on batch within labels (scIB `silhouette_batch`), with the labels it scored. */
export function silhouetteBatch(x: ArrayLike<number>, d: number, labels: readonly string[], batches: readonly string[], distance: 'euclidean' | 'cosine' = 'euclidean'): { score: number; perLabel: { label: string; score: number; profiles: number; batches: number }[] } {
  const byLabel = new Map<string, number[]>();
  labels.forEach((l, i) => (byLabel.get(l) ?? byLabel.set(l, []).get(l)!).push(i));
  const perLabel: { label: string; score: number; profiles: number; batches: number }[] = [];
  for (const [label, rows] of byLabel) {
    const nb = new Set(rows.map((i) => batches[i])).size;
    if (nb === 1 || nb === rows.length) continue;
    const s = silhouetteSamples(x, d, batches, distance, rows);
    perLabel.push({ label, score: s.reduce((a, v) => a + (1 - Math.abs(v)), 0) / s.length, profiles: rows.length, batches: nb });
  }
  const score = perLabel.length ? perLabel.reduce((a, p) => a + p.score, 0) / perLabel.length : NaN;
  return { score, perLabel };
}

/** The `silhouette` metric: both silhouettes of the treatment profiles. */
export const silhouetteMetric = defineMetric({
  name: 'silhouette',
  description: 'Silhouette on label (biology kept, scaled to [0, 1]) and on batch within labels (1 - |s|: 1 = batches mixed), as scIB / Arevalo et al. 2024; treatments only',
  options: silhouetteOptions,
  needs: { columns: ['label', 'plate'] },
  async compute(ctx) {
    const o = ctx.options;
    const inp = integrationInput(ctx, o.batchOver);
    const lab = silhouetteLabel(inp.x, inp.d, inp.labels, o.silhouetteDistance);
    const bat = silhouetteBatch(inp.x, inp.d, inp.labels, inp.batches, o.silhouetteDistance);
    return {
      summary: {
        label_score: lab.score,
        label_raw: lab.raw,
        batch_score: bat.score,
        batch_column: inp.batchColumn,
        distance: o.silhouetteDistance,
        labels_scored_for_batch: bat.perLabel.length,
        profiles: inp.n,
        ...(inp.sampled ? { sampled_from: inp.treatmentRows } : {}),
      },
      tables: { batch_per_label: bat.perLabel.map((p) => ({ label: p.label, silhouette_batch: p.score, profiles: p.profiles, batches: p.batches })) },
    };
  },
});
