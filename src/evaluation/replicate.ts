/**
 * Replicate consistency metrics of cytominer-eval (Way et al.) and the percent-replicating score of
 * the JUMP / copairs notebooks, over a precomputed [n, n] similarity matrix.
 */
import type { ProfileTable } from './profile-table.ts';
import { groupCodes } from './profile-table.ts';
import { median, quantile, quantileSorted } from './stats.ts';
import { Rng } from '../util/rng.ts';

/** Result of {@link computeReplicateReproducibility}. */
export interface ReplicateReproducibility {
  /** Fraction of replicate pairs with similarity strictly above `threshold`. */
  score: number;
  /** q-quantile (linear) of the non-replicate pairs' similarities. */
  threshold: number;
  nReplicatePairs: number;
  /** Median similarity of the replicate pairs of each group, sorted descending. */
  groupMedians: { key: string[]; median: number; nPairs: number }[];
}

/**
 * cytominer-eval `replicate_reproducibility`: over all pairs i < j, a pair is a replicate pair when
 * every `groups` column is equal (values compared as strings: two empty values are equal).
 */
export function computeReplicateReproducibility(
  t: ProfileTable,
  sim: Float64Array,
  groups: string[],
  q = 0.95,
): ReplicateReproducibility {
  const n = t.n;
  const { codes, keys } = groupCodes(t, groups);
  const rep: number[] = [];
  const repGroup: number[] = [];
  const non: number[] = [];
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const s = sim[i * n + j];
      if (codes[i] === codes[j]) {
        rep.push(s);
        repGroup.push(codes[i]);
      } else non.push(s);
    }
  }
  const threshold = quantile(non, q);
  const score = rep.filter((s) => s > threshold).length / rep.length;
  const byGroup = new Map<number, number[]>();
  rep.forEach((s, p) => {
    const g = repGroup[p];
    if (!byGroup.has(g)) byGroup.set(g, []);
    byGroup.get(g)!.push(s);
  });
  const groupMedians = [...byGroup.entries()]
    .map(([g, v]) => ({ key: keys[g], median: median(v), nPairs: v.length }))
    .sort((a, b) => b.median - a.median);
  return { score, threshold, nReplicatePairs: rep.length, groupMedians };
}

/** One row of {@link computePrecisionRecall}. */
export interface PrecisionRecallRow {
  key: string[];
  k: number;
  precision: number;
  recall: number;
}

/**
 * cytominer-eval `precision_recall`: per group (of `groupby`, default `groups`), the neighbour lists
 * (self removed) of all its members are pooled and sorted by similarity descending;
 * precision@k = replicate pairs in the top k / k, recall@k = replicate pairs in the top k /
 * replicate pairs of the pool. A pair is a replicate pair when every `groups` column is equal.
 */
export function computePrecisionRecall(
  t: ProfileTable,
  sim: Float64Array,
  groups: string[],
  ks: number[],
  groupby: string[] = groups,
): PrecisionRecallRow[] {
  const n = t.n;
  const rep = groupCodes(t, groups).codes;
  const { codes, keys } = groupCodes(t, groupby);
  const members: number[][] = keys.map(() => []);
  for (let i = 0; i < n; i++) members[codes[i]].push(i);
  const rows: PrecisionRecallRow[] = [];
  members.forEach((ms, g) => {
    const pool: { s: number; r: number }[] = [];
    for (const i of ms) for (let j = 0; j < n; j++) if (j !== i) pool.push({ s: sim[i * n + j], r: rep[i] === rep[j] ? 1 : 0 });
    pool.sort((a, b) => b.s - a.s);
    const totalRelevant = pool.reduce((s, p) => s + p.r, 0);
    const cum = new Int32Array(pool.length + 1);
    for (let p = 0; p < pool.length; p++) cum[p + 1] = cum[p] + pool[p].r;
    for (const k of ks) {
      const hits = cum[Math.min(k, pool.length)];
      rows.push({ key: keys[g], k, precision: hits / k, recall: totalRelevant ? hits / totalRelevant : NaN });
    }
  });
  return rows;
}

/** Result of {@link computePercentReplicating}. */
export interface PercentReplicating {
  /** Fraction of groups whose median replicate similarity is strictly above `threshold`. */
  score: number;
  /** 95th percentile (linear) of the null medians. */
  threshold: number;
  /** Pairs per null sample. */
  nRep: number;
  groups: { key: string[]; median: number; size: number; aboveThreshold: boolean }[];
}

/**
 * Percent replicating (JUMP / copairs notebooks): group score = median similarity over its replicate
 * pairs (groups of 2 or more); null = `nSamples` medians of `nRep` random non-replicate pairs, with
 * nRep = min(median group size - 1, 50); threshold = 95th percentile of the null.
 * Seeded; groups compared on `groups` columns.
 */
export function computePercentReplicating(
  t: ProfileTable,
  sim: Float64Array,
  groups: string[],
  opts: { nSamples?: number; seed?: number; percentile?: number } = {},
): PercentReplicating {
  const n = t.n;
  const { codes, keys } = groupCodes(t, groups);
  const members: number[][] = keys.map(() => []);
  for (let i = 0; i < n; i++) members[codes[i]].push(i);
  const replicated = members.map((ms, g) => ({ ms, g })).filter((x) => x.ms.length >= 2);
  const sizes = replicated.map((x) => x.ms.length);
  const nRep = Math.max(1, Math.min(Math.floor(median(sizes)) - 1, 50));
  const rng = new Rng(opts.seed ?? 0);
  const nSamples = opts.nSamples ?? 1000;
  const nullMedians = new Float64Array(nSamples);
  const draw = new Float64Array(nRep);
  for (let s = 0; s < nSamples; s++) {
    for (let p = 0; p < nRep; p++) {
      let i: number;
      let j: number;
      do {
        i = rng.int(n);
        j = rng.int(n);
      } while (codes[i] === codes[j]);
      draw[p] = sim[i * n + j];
    }
    nullMedians[s] = median(draw);
  }
  nullMedians.sort();
  const threshold = quantileSorted(nullMedians, opts.percentile ?? 0.95);
  const rows = replicated.map(({ ms, g }) => {
    const v: number[] = [];
    for (let a = 0; a < ms.length; a++) for (let b = a + 1; b < ms.length; b++) v.push(sim[ms[a] * n + ms[b]]);
    const m = median(v);
    return { key: keys[g], median: m, size: ms.length, aboveThreshold: m > threshold };
  });
  const score = rows.length ? rows.filter((r) => r.aboveThreshold).length / rows.length : NaN;
  return { score, threshold, nRep, groups: rows };
}
