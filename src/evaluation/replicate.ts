/**
 * Replicate consistency metrics of cytominer-eval (Way et al.) and the percent-replicating score of
 * the JUMP / copairs notebooks, over a precomputed [n, n] similarity matrix.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes } from '../tables/profile-table.ts';
import { median, quantile } from '../util/stats.ts';
import { findPairs } from './pairs.ts';
import { UserError } from '../util/errors.ts';
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
  /** Fraction of groups (with a finite median) whose median replicate similarity is strictly above `threshold`. */
  score: number;
  /** 95th percentile (linear) of the null medians. */
  threshold: number;
  /** Pairs per null sample: min(median over groups of the number of distinct first members of its pairs, 50). */
  nRep: number;
  groups: { key: string[]; median: number; size: number; pairs: number; aboveThreshold: boolean }[];
}

/**
 * Percent replicating as copairs v0.5.2 `correlation_test(X, meta, sameby, diffby)` +
 * `percent_score_right()` computes it:
 * - replicate pairs: equal in every `sameby` column, different in every `diffby` column
 *   (copairs `get_all_pairs`); a group is scored when it has at least one pair;
 * - group score: median similarity (Pearson in copairs) over the group's pairs;
 * - n_rep = min(int(median over groups of the number of distinct first members of its pairs), 50);
 *   with pairs (i, j), i < j, that is group size - 1 when `diffby` is empty;
 * - null: `nSamples` medians of n_rep random pairs, each drawn as copairs' `sample_null_pair`:
 *   the first row uniform (among rows that have a partner), the second uniform among the rows that
 *   differ from it in EVERY `sameby` and `diffby` column;
 * - threshold: the 95th percentile (linear) of the null; score: the fraction of groups with a
 *   finite median strictly above it (NaN medians dropped, as `corr_dist.dropna()`).
 * Seeded: only the null (hence the threshold) depends on the random stream.
 */
export function computePercentReplicating(
  t: ProfileTable,
  sim: Float64Array,
  sameby: string[],
  opts: { diffby?: string[]; nSamples?: number; seed?: number; percentile?: number } = {},
): PercentReplicating {
  const n = t.n;
  const diffby = opts.diffby ?? [];
  const { codes, keys } = groupCodes(t, sameby);
  const sizes = new Int32Array(keys.length);
  for (let i = 0; i < n; i++) sizes[codes[i]]++;
  const pairs = findPairs(t, { sameby, diffby });
  const sims = new Map<number, number[]>();
  const firsts = new Map<number, Set<number>>();
  for (let p = 0; p < pairs.length; p += 2) {
    const g = codes[pairs[p]];
    (sims.get(g) ?? sims.set(g, []).get(g)!).push(sim[pairs[p] * n + pairs[p + 1]]);
    (firsts.get(g) ?? firsts.set(g, new Set()).get(g)!).add(pairs[p]);
  }
  const scored = [...sims.keys()].sort((a, b) => a - b);
  if (scored.length === 0) throw new UserError(`Percent replicating: no replicate pairs (same ${sameby.join(', ')}${diffby.length ? `, different ${diffby.join(', ')}` : ''}).`);
  const nRep = Math.max(1, Math.min(Math.floor(median(scored.map((g) => firsts.get(g)!.size))), 50));

  // Null pairs: differ from the first row in every sameby and diffby column.
  const nullCols = [...sameby, ...diffby].map((c) => groupCodes(t, [c]).codes);
  const valid = (i: number, j: number) => nullCols.every((c) => c[i] !== c[j]);
  const partners = new Map<number, Int32Array>();
  const partnersOf = (i: number) => {
    let ps = partners.get(i);
    if (!ps) {
      const out: number[] = [];
      for (let j = 0; j < n; j++) if (valid(i, j)) out.push(j);
      partners.set(i, (ps = Int32Array.from(out)));
    }
    return ps;
  };
  const rng = new Rng(opts.seed ?? 0);
  const nSamples = opts.nSamples ?? 1000;
  const nullMedians: number[] = [];
  const draw = new Float64Array(nRep);
  let partnerless = 0;
  for (let s = 0; s < nSamples; s++) {
    for (let p = 0; p < nRep; p++) {
      let i = -1;
      let j = -1;
      while (j < 0) {
        i = rng.int(n);
        // Rejection is uniform over i's partners; fall back to listing them when they are rare.
        for (let a = 0; a < 32 && j < 0; a++) {
          const c = rng.int(n);
          if (valid(i, c)) j = c;
        }
        if (j < 0) {
          const ps = partnersOf(i);
          if (ps.length) j = ps[rng.int(ps.length)];
          else if (++partnerless > 100 * n) throw new UserError(`Percent replicating: no two rows differ in every column of ${[...sameby, ...diffby].join(', ')}; no null pairs.`);
        }
      }
      draw[p] = sim[i * n + j];
    }
    const m = median(draw);
    if (!Number.isNaN(m)) nullMedians.push(m);
  }
  const threshold = quantile(nullMedians, opts.percentile ?? 0.95);
  const rows = scored.map((g) => {
    const m = median(sims.get(g)!);
    return { key: keys[g], median: m, size: sizes[g], pairs: sims.get(g)!.length, aboveThreshold: m > threshold };
  });
  const finite = rows.filter((r) => !Number.isNaN(r.median));
  const score = finite.length ? finite.filter((r) => r.aboveThreshold).length / finite.length : NaN;
  return { score, threshold, nRep, groups: rows };
}
