import type { ProfileTable } from '../evaluation/profile-table.ts';
import { UserError } from '../util/errors.ts';

/** How profiles of one group are combined per feature (pycytominer `aggregate` operations). */
export type AggregateMethod = 'mean' | 'median';

/** Options of {@link aggregateProfiles}. */
export interface AggregateOptions {
  /** Metadata columns defining a group (default the well: experiment, plate, well). */
  by?: string[];
  /** Per-feature combination (default `mean`). */
  method?: AggregateMethod;
  /** Name of the added column holding the number of profiles per group (default `Metadata_Count`). */
  countColumn?: string;
}

/** The well key of the issue: one profile per [experiment, plate, well]. */
export const WELL_KEYS = ['Metadata_Experiment', 'Metadata_Plate', 'Metadata_Well'];

/**
 * Aggregates profiles (e.g. sites) into one profile per group (e.g. well), as pycytominer's
 * `aggregate(strata=..., operation="mean"|"median")`: features are the per-feature mean or
 * median (even-sized groups: mean of the two middle values, as pandas) computed in float64;
 * metadata keeps the group columns, every other `Metadata_*` column that is constant within
 * every group (cell type, label, well type, split), and adds the group size. Columns that vary
 * within a group (site) are dropped. Groups are in order of first appearance.
 */
export function aggregateProfiles(t: ProfileTable, opts: AggregateOptions = {}): ProfileTable {
  const by = opts.by ?? WELL_KEYS;
  const method = opts.method ?? 'mean';
  const countColumn = opts.countColumn ?? 'Metadata_Count';
  for (const k of by) {
    if (!(k in t.meta)) {
      throw new UserError(`aggregate: group column "${k}" is not in the table (has ${Object.keys(t.meta).join(', ')})`);
    }
  }
  if (countColumn in t.meta) throw new UserError(`aggregate: the table already has a column "${countColumn}"; choose another countColumn`);

  // Group membership by joined key, in first-appearance order.
  const groupOf = new Int32Array(t.n);
  const index = new Map<string, number>();
  const first: number[] = [];
  for (let i = 0; i < t.n; i++) {
    const key = by.map((k) => t.meta[k][i]).join('\u0000');
    let g = index.get(key);
    if (g === undefined) {
      g = first.length;
      index.set(key, g);
      first.push(i);
    }
    groupOf[i] = g;
  }
  const G = first.length;
  const counts = new Int32Array(G);
  for (let i = 0; i < t.n; i++) counts[groupOf[i]]++;

  // Metadata: group keys, then other columns constant within every group.
  const meta: Record<string, string[]> = {};
  for (const [name, col] of Object.entries(t.meta)) {
    const constant = by.includes(name) || col.every((v, i) => v === col[first[groupOf[i]]]);
    if (constant) meta[name] = first.map((i) => col[i]);
  }
  meta[countColumn] = Array.from(counts, String);

  const d = t.d;
  const out = new Float32Array(G * d);
  if (method === 'mean') {
    const acc = new Float64Array(G * d);
    for (let i = 0; i < t.n; i++) {
      const g = groupOf[i] * d, r = i * d;
      for (let j = 0; j < d; j++) acc[g + j] += t.features[r + j];
    }
    for (let g = 0; g < G; g++) for (let j = 0; j < d; j++) out[g * d + j] = acc[g * d + j] / counts[g];
  } else if (method === 'median') {
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
  } else {
    throw new UserError(`aggregate: unknown method "${String(method)}"; use mean or median`);
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
