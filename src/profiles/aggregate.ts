/**
 * Aggregation of profiles (sites or cells -> wells, wells -> treatment consensus), the one
 * implementation behind `ben embed`'s well file, `ben profiles` and the per-treatment kNN of
 * `ben evaluate`.
 */
import { groupCodes, metaName, WELL_COLUMNS, type ProfileTable } from '../tables/profile-table.ts';

export { WELL_COLUMNS };
import { UserError } from '../util/errors.ts';
import { rowNormalizers } from '../util/unit-rows.ts';

/**
 * How the profiles of one group are combined per feature: pycytominer `aggregate` operations
 * `mean` and `median`, and `l2-mean`, the mean of the L2-normalised profiles (Lin & Lu 2022
 * average the unit-length embeddings of a well's images).
 */
export type AggregateMethod = 'mean' | 'median' | 'l2-mean';

/** The methods of {@link AggregateMethod}, for CLI choices and the recipe schema. */
export const AGGREGATE_METHODS = ['mean', 'median', 'l2-mean'] as const;

/** Options of {@link aggregateProfiles}. */
export interface AggregateOptions {
  /** Metadata columns defining a group (default the well: experiment, plate, well). `Metadata_` may be left out. */
  by?: string[];
  /** Per-feature combination (default `mean`). */
  method?: AggregateMethod;
  /** Name of the added column holding the number of profiles per group (default {@link COUNT_COLUMN}). */
  countColumn?: string;
  /**
   * Metadata columns that vary within a group: `drop` them (default; pycytominer keeps only the
   * strata), or `join` their distinct values, sorted, with `;` (so a column a later step names is
   * still there).
   */
  varying?: 'drop' | 'join';
}

/**
 * The column holding how many profiles an aggregate combines. pycytominer's
 * `Metadata_Object_Count` counts cells through an object-number column, which site embeddings do
 * not have; this counts the rows combined, whatever they are.
 */
export const COUNT_COLUMN = 'Metadata_Count';

/**
 * Aggregates profiles into one profile per group of `by` columns, as pycytominer's
 * `aggregate(strata=..., operation="mean"|"median")`: features are the per-feature mean or median
 * (even-sized groups: mean of the two middle values, as pandas), computed in float64. Metadata keeps
 * the group columns and every other `Metadata_*` column constant within every group (cell type,
 * label, well type...); columns that vary within a group are dropped or joined (`varying`). The count
 * column is added (an input count column is replaced: a consensus of wells counts wells). Groups are
 * in order of first appearance.
 */
export function aggregateProfiles(t: ProfileTable, opts: AggregateOptions = {}): ProfileTable {
  const method = opts.method ?? 'mean';
  if (!(AGGREGATE_METHODS as readonly string[]).includes(method)) {
    throw new UserError(`aggregate: unknown method "${String(method)}"; use ${AGGREGATE_METHODS.join(', ')}`);
  }
  const by = (opts.by ?? WELL_COLUMNS).map((c) => metaName(t, c));
  const countColumn = opts.countColumn ?? COUNT_COLUMN;
  if (by.includes(countColumn)) throw new UserError(`aggregate: cannot group by the count column "${countColumn}"`);
  const { codes: groupOf, keys } = groupCodes(t, by);
  const G = keys.length;
  const counts = new Int32Array(G);
  const first = new Int32Array(G).fill(-1);
  for (let i = 0; i < t.n; i++) {
    counts[groupOf[i]]++;
    if (first[groupOf[i]] < 0) first[groupOf[i]] = i;
  }

  const meta: Record<string, string[]> = {};
  for (const [name, col] of Object.entries(t.meta)) {
    if (name === countColumn) continue;
    const constant = by.includes(name) || col.every((v, i) => v === col[first[groupOf[i]]]);
    if (constant) meta[name] = Array.from(first, (i) => col[i]);
    else if (opts.varying === 'join') {
      const vals = Array.from({ length: G }, () => new Set<string>());
      col.forEach((v, i) => vals[groupOf[i]].add(v));
      meta[name] = vals.map((s) => [...s].sort().join(';'));
    }
  }
  meta[countColumn] = Array.from(counts, String);

  const d = t.d;
  const out = new Float32Array(G * d);
  if (method === 'mean' || method === 'l2-mean') {
    const acc = new Float64Array(G * d);
    // l2-mean: each profile weighted by 1 / its norm (a zero profile adds nothing rather than NaN).
    const weight = method === 'l2-mean' ? rowNormalizers(t.features, d).scale : undefined;
    for (let i = 0; i < t.n; i++) {
      const g = groupOf[i] * d;
      const r = i * d;
      const w = weight ? weight[i] : 1;
      for (let j = 0; j < d; j++) acc[g + j] += w * t.features[r + j];
    }
    for (let g = 0; g < G; g++) for (let j = 0; j < d; j++) out[g * d + j] = acc[g * d + j] / counts[g];
  } else {
    // Members of each group, contiguous (counting sort by group).
    const start = new Int32Array(G + 1);
    for (let g = 0; g < G; g++) start[g + 1] = start[g] + counts[g];
    const fill = start.slice(0, G);
    const members = new Int32Array(t.n);
    for (let i = 0; i < t.n; i++) members[fill[groupOf[i]]++] = i;
    let maxCount = 0;
    for (const c of counts) maxCount = Math.max(maxCount, c);
    const buf = new Float64Array(maxCount);
    for (let g = 0; g < G; g++) {
      const c = counts[g];
      const vals = buf.subarray(0, c);
      for (let j = 0; j < d; j++) {
        for (let k = 0; k < c; k++) vals[k] = t.features[members[start[g] + k] * d + j];
        vals.sort();
        const h = c >> 1;
        out[g * d + j] = c % 2 ? vals[h] : (vals[h - 1] + vals[h]) / 2;
      }
    }
  }
  return {
    n: G,
    d,
    meta,
    featureNames: [...t.featureNames],
    features: out,
    keyValue: { ...t.keyValue, aggregation: method, aggregated_by: by.join(',') },
  };
}
