/**
 * copairs average precision without an [n, n] similarity matrix or pair lists: the same numbers
 * as {@link computeAveragePrecisionTable} (bit for bit), in memory O(n d) for the features plus
 * O(block x group) scratch, for tables of a million profiles.
 *
 * Per query profile i: its positives are the rows of its `pos_sameby` group that differ in every
 * `pos_diffby` column, its negatives the rows of its `neg_sameby` group (all rows when empty)
 * that differ in every `neg_diffby` column. copairs ranks i's pairs by the float32 key
 * `1 - sim` ascending, a tied positive ahead of a tied negative, so with its m positive keys
 * sorted k_1 <= ... <= k_m the j-th positive sits at rank j + #{negatives with key < k_j}, and
 * AP = (1/m) sum_j j / rank_j. The negatives are therefore only counted against the positive
 * keys, never stored; a profile without positives needs no similarity at all (its pair count is
 * a count over metadata codes).
 *
 * Queries are processed in blocks that share a negative group (e.g. a plate with neg_sameby =
 * plate; the whole table otherwise), the block's similarities to each candidate computed once.
 * Similarities are those of similarity.ts (rows centred for pearson, scaled to unit norm in float64,
 * dot products summed in feature order), computed on the fly from the float32 features.
 */
import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes } from '../tables/profile-table.ts';
import { computeNullAveragePrecision, countAbove, type AveragePrecisionOptions, type AveragePrecisionResult, type AveragePrecisionRow } from './map.ts';
import { rowNormalizers } from '../util/unit-rows.ts';

/** Similarities the grouped path computes (row-normalised dot products). */
export const GROUPED_SIMILARITIES = new Set(['cosine', 'pearson']);

/** Options of {@link computeAveragePrecisionGrouped}. */
export interface GroupedAveragePrecisionOptions extends AveragePrecisionOptions {
  /** Queries per block (default 64). */
  blockSize?: number;
  /** Called after each block with the queries done and the queries with positives in all. */
  onProgress?: (done: number, total: number) => void;
}

/** Per-column integer codes of `columns` (one Int32Array each). */
function codesOf(t: ProfileTable, columns: string[]): Int32Array[] {
  return columns.map((c) => groupCodes(t, [c]).codes);
}

/** Combined group code of `columns` per row (all 0 when none). */
function groupOf(t: ProfileTable, columns: string[]): Int32Array {
  return columns.length ? groupCodes(t, columns).codes : new Int32Array(t.n);
}

/** Rows of each group, ascending. */
function membersOf(codes: Int32Array): Int32Array[] {
  let g = 0;
  for (const c of codes) if (c + 1 > g) g = c + 1;
  const counts = new Int32Array(g);
  for (const c of codes) counts[c]++;
  const out = Array.from(counts, (k) => new Int32Array(k));
  const fill = new Int32Array(g);
  for (let i = 0; i < codes.length; i++) out[codes[i]][fill[codes[i]]++] = i;
  return out;
}

/**
 * For every row i, the number of rows j != i of its group that differ from it in every column of
 * `diff` (inclusion-exclusion over the subsets of `diff`, counted with hash maps).
 */
function countDiffering(group: Int32Array, diff: Int32Array[]): Float64Array {
  const n = group.length;
  const out = new Float64Array(n);
  const k = diff.length;
  for (let mask = 0; mask < 1 << k; mask++) {
    const cols = diff.filter((_, b) => mask & (1 << b));
    const sign = cols.length % 2 ? -1 : 1;
    const counts = new Map<string, number>();
    const key = (i: number) => `${group[i]}|${cols.map((c) => c[i]).join('|')}`;
    for (let i = 0; i < n; i++) {
      const s = key(i);
      counts.set(s, (counts.get(s) ?? 0) + 1);
    }
    for (let i = 0; i < n; i++) out[i] += sign * counts.get(key(i))!;
  }
  // With no diffby column the count above includes i itself; otherwise i cancels out.
  if (k === 0) for (let i = 0; i < n; i++) out[i] -= 1;
  return out;
}


/**
 * Per-profile AP of `t` (copairs `average_precision`), identical to
 * {@link computeAveragePrecisionTable} for the cosine and pearson similarities, without the
 * [n, n] matrix (see the module doc).
 */
export function computeAveragePrecisionGrouped(t: ProfileTable, opts: GroupedAveragePrecisionOptions): AveragePrecisionResult {
  const similarity = opts.similarity ?? 'cosine';
  if (!GROUPED_SIMILARITIES.has(similarity)) throw new Error(`grouped average precision computes ${[...GROUPED_SIMILARITIES].join(', ')}, not ${similarity}`);
  const nullSize = opts.nullSize ?? 10000;
  const seed = opts.seed ?? 0;
  const B = opts.blockSize ?? 64;
  const { n, d, features: x } = t;
  const posGroup = groupOf(t, opts.pos.sameby);
  const negGroup = groupOf(t, opts.neg.sameby);
  const posDiff = codesOf(t, opts.pos.diffby);
  const negDiff = codesOf(t, opts.neg.diffby);
  const nPosOf = countDiffering(posGroup, posDiff);
  const nNegOf = countDiffering(negGroup, negDiff);
  const posMembers = membersOf(posGroup);
  const negMembers = membersOf(negGroup);
  const { shift, scale } = rowNormalizers(t.features, t.d, similarity === 'pearson');

  const ap = new Float64Array(n).fill(NaN);
  // Queries (rows with positives), by negative group then positive group then row.
  const queries: number[] = [];
  for (let i = 0; i < n; i++) if (nPosOf[i] > 0) queries.push(i);
  queries.sort((a, b) => negGroup[a] - negGroup[b] || posGroup[a] - posGroup[b] || a - b);

  const zq = new Float64Array(B * d);
  const keys: Float32Array[] = [];
  const negBefore: Int32Array[] = [];
  const sims = new Float64Array(B);

  // Similarities of block queries [q0, q1) to candidate row c, into sims[q0 .. q1).
  const dots = (q0: number, q1: number, c: number) => {
    const oc = c * d;
    const sh = shift[c];
    const sc = scale[c];
    let q = q0;
    for (; q + 4 <= q1; q += 4) {
      const o0 = q * d, o1 = o0 + d, o2 = o1 + d, o3 = o2 + d;
      let a0 = 0, a1 = 0, a2 = 0, a3 = 0;
      for (let k = 0; k < d; k++) {
        const z = (x[oc + k] - sh) * sc;
        a0 += zq[o0 + k] * z;
        a1 += zq[o1 + k] * z;
        a2 += zq[o2 + k] * z;
        a3 += zq[o3 + k] * z;
      }
      sims[q] = a0;
      sims[q + 1] = a1;
      sims[q + 2] = a2;
      sims[q + 3] = a3;
    }
    for (; q < q1; q++) {
      const o0 = q * d;
      let a0 = 0;
      for (let k = 0; k < d; k++) a0 += zq[o0 + k] * ((x[oc + k] - sh) * sc);
      sims[q] = a0;
    }
  };
  const differs = (cols: Int32Array[], i: number, j: number) => {
    for (const c of cols) if (c[i] === c[j]) return false;
    return true;
  };

  let done = 0;
  for (let b0 = 0; b0 < queries.length; ) {
    // A block: consecutive queries of one negative group.
    let b1 = b0 + 1;
    while (b1 < queries.length && b1 - b0 < B && negGroup[queries[b1]] === negGroup[queries[b0]]) b1++;
    const m = b1 - b0;
    for (let q = 0; q < m; q++) {
      const i = queries[b0 + q];
      const o = i * d;
      for (let k = 0; k < d; k++) zq[q * d + k] = (x[o + k] - shift[i]) * scale[i];
      keys[q] = new Float32Array(nPosOf[i]);
      negBefore[q] = new Int32Array(nPosOf[i] + 1);
    }
    // Positives: each run of queries sharing a positive group scans that group.
    for (let r0 = 0; r0 < m; ) {
      let r1 = r0 + 1;
      while (r1 < m && posGroup[queries[b0 + r1]] === posGroup[queries[b0 + r0]]) r1++;
      const fill = new Int32Array(r1 - r0);
      for (const c of posMembers[posGroup[queries[b0 + r0]]]) {
        let wanted = false;
        for (let q = r0; q < r1 && !wanted; q++) wanted = c !== queries[b0 + q] && differs(posDiff, queries[b0 + q], c);
        if (!wanted) continue;
        dots(r0, r1, c);
        for (let q = r0; q < r1; q++) {
          const i = queries[b0 + q];
          if (c === i || !differs(posDiff, i, c)) continue;
          keys[q][fill[q - r0]++] = Math.fround(1 - Math.fround(sims[q]));
        }
      }
      for (let q = r0; q < r1; q++) {
        if (fill[q - r0] !== keys[q].length) throw new Error(`row ${queries[b0 + q]}: ${fill[q - r0]} positives found, ${keys[q].length} counted`);
        keys[q].sort();
      }
      r0 = r1;
    }
    // Negatives: counted against the sorted positive keys (upper bound: strictly smaller keys only).
    for (const c of negMembers[negGroup[queries[b0]]]) {
      // Skip candidates that are no query's negative (e.g. the treatments of a plate for the
      // activity lists): the check costs less than the block's dot products.
      let wanted = false;
      for (let q = 0; q < m && !wanted; q++) wanted = c !== queries[b0 + q] && differs(negDiff, queries[b0 + q], c);
      if (!wanted) continue;
      dots(0, m, c);
      for (let q = 0; q < m; q++) {
        const i = queries[b0 + q];
        if (c === i || !differs(negDiff, i, c)) continue;
        const key = Math.fround(1 - Math.fround(sims[q]));
        const ks = keys[q];
        let lo = 0;
        let hi = ks.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (ks[mid] <= key) lo = mid + 1;
          else hi = mid;
        }
        negBefore[q][lo]++;
      }
    }
    for (let q = 0; q < m; q++) {
      const i = queries[b0 + q];
      const cnt = negBefore[q];
      let before = 0;
      let s = 0;
      for (let j = 0; j < keys[q].length; j++) {
        before += cnt[j];
        s += (j + 1) / (j + 1 + before);
      }
      ap[i] = s / keys[q].length;
    }
    done += m;
    opts.onProgress?.(done, queries.length);
    b0 = b1;
  }

  const nulls = new Map<string, Float64Array>();
  const rows: AveragePrecisionRow[] = [];
  for (let i = 0; i < n; i++) {
    const nPos = nPosOf[i];
    const nTotal = nPos + nNegOf[i];
    if (nTotal === 0) continue;
    let pValue = NaN;
    if (nPos > 0) {
      const key = `${nPos}/${nTotal}`;
      let nul = nulls.get(key);
      if (!nul) nulls.set(key, (nul = computeNullAveragePrecision(nPos, nTotal, nullSize, seed)));
      pValue = (1 + countAbove(nul, ap[i], false)) / (nullSize + 1);
    }
    rows.push({ index: i, ap: ap[i], nPos, nTotal, pValue });
  }
  return { rows, nullSize, seed, nulls };
}
