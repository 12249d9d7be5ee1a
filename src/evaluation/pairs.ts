import type { ProfileTable } from '../tables/profile-table.ts';
import { groupCodes } from '../tables/profile-table.ts';

/** A pair rule over metadata (copairs `Matcher.get_all_pairs`). */
export interface PairRule {
  /** Columns whose values must be equal in both members. */
  sameby: string[];
  /** Columns whose values must differ in both members (every one of them). */
  diffby: string[];
}

/**
 * All pairs (i < j) of rows of `t` satisfying `rule`, flattened [i0, j0, i1, j1, ...]
 * (copairs v0.5.2 semantics: equal in every `sameby` column, different in every `diffby` column;
 * values compared as strings). O(sum of squared group sizes) when `sameby` is non-empty.
 */
export function findPairs(t: ProfileTable, rule: PairRule): Int32Array {
  const diff = rule.diffby.map((c) => groupCodes(t, [c]).codes);
  const differs = (i: number, j: number): boolean => {
    for (const c of diff) if (c[i] === c[j]) return false;
    return true;
  };
  const out: number[] = [];
  if (rule.sameby.length === 0) {
    for (let i = 0; i < t.n; i++) for (let j = i + 1; j < t.n; j++) if (differs(i, j)) out.push(i, j);
    return Int32Array.from(out);
  }
  const { codes, keys } = groupCodes(t, rule.sameby);
  const members: number[][] = keys.map(() => []);
  for (let i = 0; i < t.n; i++) members[codes[i]].push(i);
  for (const g of members) {
    for (let a = 0; a < g.length; a++) for (let b = a + 1; b < g.length; b++) if (differs(g[a], g[b])) out.push(g[a], g[b]);
  }
  return Int32Array.from(out);
}

/**
 * Similarity of each pair, stored as float32 as copairs does: `sim[p] = S[i_p, j_p]` for an [n, n]
 * similarity matrix `s`.
 */
export function computePairSimilarities(s: Float64Array, n: number, pairs: Int32Array): Float32Array {
  const out = new Float32Array(pairs.length / 2);
  for (let p = 0; p < out.length; p++) out[p] = s[pairs[2 * p] * n + pairs[2 * p + 1]];
  return out;
}
