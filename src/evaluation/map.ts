/**
 * Mean average precision with copairs v0.5.2 semantics (Kalinin et al., "A versatile information
 * retrieval framework for evaluating profile strength and similarity", 2024), as a linear pipeline:
 * findPairs -> computePairSimilarities -> buildRankLists -> computeAveragePrecision ->
 * computeMeanAveragePrecision (null distributions, p-values, Benjamini-Hochberg).
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes } from '../tables/profile-table.ts';
import { findPairs, computePairSimilarities, type PairRule } from './pairs.ts';
import { similarities } from './similarity.ts';
import { adjustBenjaminiHochberg } from '../util/stats.ts';
import { Rng } from '../util/rng.ts';

/** Ranked relevance lists, one per profile that has at least one pair. */
export interface RankLists {
  /** Row index of the profile owning each list, ascending. */
  profiles: Int32Array;
  /** List `l` is `relevance[offsets[l] .. offsets[l+1])`. */
  offsets: Int32Array;
  /** 1 for a positive pair, 0 for a negative, ranked by similarity descending. */
  relevance: Uint8Array;
}

/**
 * Per profile, its positive and negative pairs ranked by similarity descending (each pair counts for
 * both members). Exactly copairs' `np.lexsort([1 - sim, ix])` with positives concatenated first: the
 * key is the float32 `1 - sim`, and a tied positive ranks ahead of a tied negative.
 */
export function buildRankLists(
  posPairs: Int32Array,
  negPairs: Int32Array,
  posSims: Float32Array,
  negSims: Float32Array,
): RankLists {
  const counts = new Map<number, number>();
  for (const pairs of [posPairs, negPairs]) for (const i of pairs) counts.set(i, (counts.get(i) ?? 0) + 1);
  const profiles = Int32Array.from([...counts.keys()].sort((a, b) => a - b));
  const slot = new Map<number, number>();
  const offsets = new Int32Array(profiles.length + 1);
  profiles.forEach((p, l) => {
    slot.set(p, l);
    offsets[l + 1] = offsets[l] + counts.get(p)!;
  });
  const total = offsets[profiles.length];
  const keys = new Float32Array(total);
  const labels = new Uint8Array(total);
  const fill = Int32Array.from(offsets.subarray(0, profiles.length));
  const put = (pairs: Int32Array, sims: Float32Array, label: number) => {
    for (let p = 0; p < sims.length; p++) {
      const key = Math.fround(1 - sims[p]);
      for (const i of [pairs[2 * p], pairs[2 * p + 1]]) {
        const at = fill[slot.get(i)!]++;
        keys[at] = key;
        labels[at] = label;
      }
    }
  };
  put(posPairs, posSims, 1);
  put(negPairs, negSims, 0);
  const relevance = new Uint8Array(total);
  for (let l = 0; l < profiles.length; l++) {
    const lo = offsets[l];
    const hi = offsets[l + 1];
    const idx = Array.from({ length: hi - lo }, (_, t) => lo + t);
    idx.sort((a, b) => keys[a] - keys[b] || labels[b] - labels[a]);
    for (let t = 0; t < idx.length; t++) relevance[lo + t] = labels[idx[t]];
  }
  return { profiles, offsets, relevance };
}

/** AP of one ranked relevance list: (1/k) * sum_i i / r_i over the k positives; NaN when k = 0. */
export function averagePrecisionOf(rel: ArrayLike<number>): number {
  let tp = 0;
  let s = 0;
  for (let r = 0; r < rel.length; r++) {
    if (rel[r]) {
      tp++;
      s += tp / (r + 1);
    }
  }
  return tp ? s / tp : NaN;
}

/** Average precision of every rank list, with its number of positives and of pairs. */
export function computeAveragePrecision(lists: RankLists): { ap: Float64Array; nPos: Int32Array; nTotal: Int32Array } {
  const L = lists.profiles.length;
  const ap = new Float64Array(L);
  const nPos = new Int32Array(L);
  const nTotal = new Int32Array(L);
  for (let l = 0; l < L; l++) {
    const rel = lists.relevance.subarray(lists.offsets[l], lists.offsets[l + 1]);
    ap[l] = averagePrecisionOf(rel);
    nTotal[l] = rel.length;
    for (const v of rel) nPos[l] += v;
  }
  return { ap, nPos, nTotal };
}

/**
 * Null distribution of AP for `nPos` positives among `nTotal` ranks: `nullSize` random rank lists,
 * each with its positives placed uniformly without replacement. Seeded per (seed, nPos, nTotal), so
 * the same configuration always gets the same null. Returned sorted ascending.
 */
export function computeNullAveragePrecision(nPos: number, nTotal: number, nullSize: number, seed: number): Float64Array {
  const rng = new Rng((seed ^ Math.imul(nPos, 0x9e3779b1) ^ Math.imul(nTotal, 0x85ebca6b)) >>> 0);
  const perm = Int32Array.from({ length: nTotal }, (_, i) => i);
  const pos = new Int32Array(nPos);
  const out = new Float64Array(nullSize);
  for (let s = 0; s < nullSize; s++) {
    // Partial Fisher-Yates: the first nPos slots are a uniform sample of ranks.
    for (let i = 0; i < nPos; i++) {
      const j = i + rng.int(nTotal - i);
      const t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
      pos[i] = perm[i];
    }
    pos.sort();
    let ap = 0;
    for (let i = 0; i < nPos; i++) ap += (i + 1) / (pos[i] + 1);
    out[s] = ap / nPos;
  }
  return out.sort();
}

/** Number of values in sorted `s` that are >= x (strict: > x). */
export function countAbove(s: Float64Array, x: number, strict: boolean): number {
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (strict ? s[mid] <= x : s[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  return s.length - lo;
}

/** Options of {@link computeAveragePrecisionTable}. */
export interface AveragePrecisionOptions {
  /** Positive pairs (copairs `pos_sameby`, `pos_diffby`). */
  pos: PairRule;
  /** Negative pairs (copairs `neg_sameby`, `neg_diffby`). */
  neg: PairRule;
  /** Similarity name from the registry. Default `cosine`. */
  similarity?: string;
  /** Size of the per-configuration null distribution. Default 10000 (copairs examples use 100000). */
  nullSize?: number;
  /** Seed of the null distributions. Default 0. */
  seed?: number;
}

/** Per-profile AP rows. */
export interface AveragePrecisionRow {
  /** Row index in the table. */
  index: number;
  ap: number;
  nPos: number;
  nTotal: number;
  /** (1 + #{null >= AP}) / (nullSize + 1); NaN without positives. */
  pValue: number;
}

/** Result of {@link computeAveragePrecisionTable}: per-profile rows and the nulls used. */
export interface AveragePrecisionResult {
  rows: AveragePrecisionRow[];
  nullSize: number;
  seed: number;
  /** Sorted null AP per "nPos/nTotal" configuration. */
  nulls: Map<string, Float64Array>;
}

/**
 * Per-profile average precision of a profile table (copairs `average_precision`), with
 * per-profile p-values against the seeded null of its (nPos, nTotal) configuration.
 */
export function computeAveragePrecisionTable(t: ProfileTable, opts: AveragePrecisionOptions): AveragePrecisionResult {
  const nullSize = opts.nullSize ?? 10000;
  const seed = opts.seed ?? 0;
  const posPairs = findPairs(t, opts.pos);
  const negPairs = findPairs(t, opts.neg);
  const sim = similarities.get(opts.similarity ?? 'cosine')(t.features, t.n, t.d);
  const lists = buildRankLists(
    posPairs,
    negPairs,
    computePairSimilarities(sim, t.n, posPairs),
    computePairSimilarities(sim, t.n, negPairs),
  );
  const { ap, nPos, nTotal } = computeAveragePrecision(lists);
  const nulls = new Map<string, Float64Array>();
  const rows: AveragePrecisionRow[] = [];
  for (let l = 0; l < ap.length; l++) {
    let pValue = NaN;
    if (nPos[l] > 0) {
      const key = `${nPos[l]}/${nTotal[l]}`;
      let nul = nulls.get(key);
      if (!nul) nulls.set(key, (nul = computeNullAveragePrecision(nPos[l], nTotal[l], nullSize, seed)));
      pValue = (1 + countAbove(nul, ap[l], false)) / (nullSize + 1);
    }
    rows.push({ index: lists.profiles[l], ap: ap[l], nPos: nPos[l], nTotal: nTotal[l], pValue });
  }
  return { rows, nullSize, seed, nulls };
}

/** Per-group mAP rows. */
export interface MeanAveragePrecisionRow {
  /** Values of the `sameby` columns. */
  key: string[];
  map: number;
  nProfiles: number;
  /** (1 + #{mean null > mAP}) / (nullSize + 1). */
  pValue: number;
  /** Benjamini-Hochberg adjusted p-value across groups. */
  correctedPValue: number;
  belowP: boolean;
  belowCorrectedP: boolean;
}

/**
 * mAP per `sameby` group (copairs `mean_average_precision`): mean AP of the members that have
 * positives; group null = element-wise mean of the members' nulls; BH across groups.
 * `fractionRetrieved` = share of groups with corrected p below `threshold`.
 */
export function computeMeanAveragePrecision(
  t: ProfileTable,
  apr: AveragePrecisionResult,
  sameby: string[],
  threshold = 0.05,
): { rows: MeanAveragePrecisionRow[]; fractionRetrieved: number; meanMap: number } {
  const { codes, keys } = groupCodes(t, sameby);
  const members = new Map<number, AveragePrecisionRow[]>();
  for (const r of apr.rows) {
    if (!(r.nPos > 0) || Number.isNaN(r.ap)) continue;
    const g = codes[r.index];
    if (!members.has(g)) members.set(g, []);
    members.get(g)!.push(r);
  }
  const groups = [...members.keys()].sort((a, b) => a - b);
  const rows: MeanAveragePrecisionRow[] = groups.map((g) => {
    const ms = members.get(g)!;
    const map = ms.reduce((s, r) => s + r.ap, 0) / ms.length;
    const confs = [...new Set(ms.map((r) => `${r.nPos}/${r.nTotal}`))];
    let above: number;
    if (confs.length === 1) {
      above = countAbove(apr.nulls.get(confs[0])!, map, true);
    } else {
      // Mean of the members' nulls, element-wise (each null in its seeded order would do; sorted is one fixed order).
      const acc = new Float64Array(apr.nullSize);
      for (const r of ms) {
        const nul = apr.nulls.get(`${r.nPos}/${r.nTotal}`)!;
        const perm = Int32Array.from({ length: apr.nullSize }, (_, i) => i);
        // Members sharing a configuration share its null (as in copairs); distinct ones are independent.
        new Rng(apr.seed + r.nPos * 7919 + r.nTotal).shuffle(perm);
        for (let s = 0; s < apr.nullSize; s++) acc[s] += nul[perm[s]];
      }
      above = 0;
      for (let s = 0; s < apr.nullSize; s++) if (acc[s] / ms.length > map) above++;
    }
    const pValue = (1 + above) / (apr.nullSize + 1);
    return { key: keys[g], map, nProfiles: ms.length, pValue, correctedPValue: NaN, belowP: pValue < threshold, belowCorrectedP: false };
  });
  const adj = adjustBenjaminiHochberg(rows.map((r) => r.pValue));
  rows.forEach((r, i) => {
    r.correctedPValue = adj[i];
    r.belowCorrectedP = adj[i] < threshold;
  });
  const fractionRetrieved = rows.length ? rows.filter((r) => r.belowCorrectedP).length / rows.length : NaN;
  const meanMap = rows.length ? rows.reduce((s, r) => s + r.map, 0) / rows.length : NaN;
  return { rows, fractionRetrieved, meanMap };
}
